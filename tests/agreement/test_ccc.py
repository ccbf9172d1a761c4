"""Lin's CCC checked against hand arithmetic, an exact independent implementation and its
defining properties."""

import math
from fractions import Fraction

import numpy as np
import pytest

from lung_fm_robustness.agreement.ccc import lin_ccc

X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def exact_lin_ccc(x: list[float], y: list[float]) -> Fraction | None:
    """Lin's CCC with 1/n moments in exact rational arithmetic; None when undefined."""
    n = len(x)
    fx, fy = [Fraction(v) for v in x], [Fraction(v) for v in y]
    mean_x, mean_y = sum(fx) / n, sum(fy) / n
    var_x = sum((v - mean_x) ** 2 for v in fx) / n
    var_y = sum((v - mean_y) ** 2 for v in fy) / n
    cov = sum((a - mean_x) * (b - mean_y) for a, b in zip(fx, fy)) / n
    if var_x == 0 and var_y == 0:
        return None
    return 2 * cov / (var_x + var_y + (mean_x - mean_y) ** 2)


def unbiased_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """The 1/(n-1) variant (torchmetrics, yardstick), for comparison only."""
    cov = np.cov(x, y, ddof=1)[0, 1]
    return 2 * cov / (x.var(ddof=1) + y.var(ddof=1) + (x.mean() - y.mean()) ** 2)


# --- hand-checkable arithmetic ----------------------------------------------------------------


def test_shift_by_one():
    # mean_x = 3, mean_y = 4; s_x^2 = s_y^2 = (4+1+0+1+4)/5 = 2; s_xy = 2; (mean diff)^2 = 1
    # ccc = 2*2 / (2 + 2 + 1) = 0.8
    assert lin_ccc(X, X + 1) == 0.8


def test_doubling():
    # y = 2x: mean_y = 6; s_y^2 = 4*2 = 8; s_xy = 2*2 = 4; (mean diff)^2 = 9
    # ccc = 2*4 / (2 + 8 + 9) = 8/19
    assert lin_ccc(X, 2 * X) == pytest.approx(8 / 19, rel=1e-15)


def test_uncorrelated():
    # deviations x: -.5 -.5 .5 .5, y: -.5 .5 -.5 .5 -> s_xy = 0 -> ccc = 0
    assert lin_ccc([0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]) == 0.0


def test_scale_about_the_mean():
    # y = 3 + a (x - 3): same mean, s_y^2 = a^2 s_x^2, s_xy = a s_x^2 -> ccc = 2a / (1 + a^2)
    for a in (0.5, 2.0, 3.0):
        assert lin_ccc(X, 3 + a * (X - 3)) == pytest.approx(2 * a / (1 + a * a), rel=1e-14)


# --- against an independent implementation --------------------------------------------------


def test_matches_exact_rational_implementation_on_random_features():
    rng = np.random.default_rng(20240601)
    n, n_features = 13, 60
    x = rng.normal(size=(n, n_features)) * rng.uniform(0.01, 100, n_features)
    y = (
        x * rng.uniform(0.5, 1.5, n_features)
        + rng.normal(size=(n, n_features)) * rng.uniform(0, 50, n_features)
        + rng.normal(0, 20, n_features)
    )
    result = lin_ccc(x, y)
    assert result.shape == (n_features,)
    assert result.dtype == np.float64
    expected = [float(exact_lin_ccc(x[:, j].tolist(), y[:, j].tolist())) for j in range(n_features)]
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_matches_the_r_times_bias_correction_form():
    # ccc = r * C_b, C_b = 2 / (v + 1/v + u^2), v = s_y/s_x, u = (mean_y - mean_x)/sqrt(s_x s_y)
    rng = np.random.default_rng(7)
    x = rng.normal(10, 2, size=(40, 30))
    y = 0.8 * x + rng.normal(3, 1, size=(40, 30))
    s_x, s_y = x.std(axis=0), y.std(axis=0)
    r = np.array([np.corrcoef(x[:, j], y[:, j])[0, 1] for j in range(30)])
    v = s_y / s_x
    u = (y.mean(axis=0) - x.mean(axis=0)) / np.sqrt(s_x * s_y)
    np.testing.assert_allclose(lin_ccc(x, y), r * 2 / (v + 1 / v + u**2), rtol=1e-12)


def test_columns_are_independent_of_each_other():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 8)), rng.normal(size=(20, 8))
    whole = lin_ccc(x, y)
    for j in range(8):
        assert whole[j] == lin_ccc(x[:, j], y[:, j])


# --- properties -------------------------------------------------------------------------------


def test_identical_is_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(59, 100)) * 1e3
    np.testing.assert_array_equal(lin_ccc(x, x), 1.0)


def test_shift_is_penalised_monotonically():
    # s^2 = 2, shift c -> ccc = 2*2 / (2 + 2 + c^2) = 4 / (4 + c^2)
    shifts = [0.0, 0.5, 1.0, 2.0, 4.0]
    values = [lin_ccc(X, X + c) for c in shifts]
    assert values == pytest.approx([4 / (4 + c * c) for c in shifts], rel=1e-15)
    assert values == sorted(values, reverse=True) and values[0] == 1.0


def test_scale_is_penalised_even_with_perfect_correlation():
    for a in (0.9, 1.1, 2.0):
        y = X.mean() + a * (X - X.mean())
        assert np.corrcoef(X, y)[0, 1] == pytest.approx(1.0)
        assert lin_ccc(X, y) < 1.0


def test_symmetric():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(30, 50)), rng.normal(1, 3, size=(30, 50))
    np.testing.assert_array_equal(lin_ccc(x, y), lin_ccc(y, x))


def test_bounded_by_minus_one_and_one():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 2000)) * 10.0 ** rng.integers(-5, 5, 2000)
    y = rng.choice([-1, 1], 2000) * x + rng.normal(size=(10, 2000)) * rng.uniform(0, 2, 2000)
    result = lin_ccc(x, y)
    assert np.all((result >= -1.0) & (result <= 1.0))


def test_mirror_about_the_mean_is_minus_one():
    # y = 2*mean_x - x: same mean and variance, s_xy = -s_x^2 -> ccc = -2 s^2 / (2 s^2) = -1
    assert lin_ccc(X, 2 * X.mean() - X) == -1.0


def test_large_magnitudes_do_not_overflow():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(25, 4)), rng.normal(size=(25, 4))
    np.testing.assert_allclose(lin_ccc(x * 1e200, y * 1e200), lin_ccc(x, y), rtol=1e-13)
    np.testing.assert_allclose(lin_ccc(x * 1e-200, y * 1e-200), lin_ccc(x, y), rtol=1e-13)


# --- 1/n versus 1/(n-1) -----------------------------------------------------------------------


def test_one_over_n_differs_from_one_over_n_minus_one_only_through_the_mean_difference():
    n = len(X)
    y = X + 1
    # 1/(n-1): s_x^2 = s_y^2 = s_xy = 10/4 = 2.5 -> 2*2.5 / (2.5 + 2.5 + 1) = 5/6, not 0.8
    assert unbiased_ccc(X, y) == pytest.approx(5 / 6, rel=1e-15)
    assert lin_ccc(X, y) == 0.8
    # Rescaling the 1/n moments by n/(n-1) turns Lin's formula into the 1/(n-1) one exactly when
    # the squared mean difference is weighted by (n-1)/n: 4 / (2 + 2 + 1 * 4/5) = 5/6.
    assert 2 * 2 / (2 + 2 + 1 * (n - 1) / n) == pytest.approx(unbiased_ccc(X, y), rel=1e-15)
    # With equal means the mean-difference term vanishes and the two definitions agree.
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=n), rng.normal(size=n)
    b = b - b.mean() + a.mean()
    assert lin_ccc(a, b) == pytest.approx(unbiased_ccc(a, b), rel=1e-12)


# --- undefined values -------------------------------------------------------------------------


def test_constant_in_both_conditions_is_undefined():
    same = np.full(5, 3.0)
    result = lin_ccc(np.column_stack([same, same, X]), np.column_stack([same, same + 2, X]))
    # Same constant (0/0) and different constants (Lin's formula gives 0/4 = 0): both undefined.
    assert np.isnan(result[0]) and np.isnan(result[1])
    assert result[2] == 1.0
    assert math.isnan(lin_ccc(np.zeros(4), np.zeros(4)))


def test_float_constant_with_inexact_mean_is_still_constant():
    # The mean of 59 copies of 0.1 is not exactly 0.1 in float64; the tiny spread must not make
    # the feature count as varying.
    x = np.full(59, 0.1)
    assert x.mean() != 0.1 and x.var() > 0.0  # the naive formula would give ~0/0.36 = 0
    assert math.isnan(lin_ccc(x, np.full(59, 0.7)))
    rng = np.random.default_rng(4)
    constants = rng.uniform(-1e6, 1e6, 5000) * 10.0 ** rng.integers(-100, 100, 5000)
    columns = np.broadcast_to(constants, (59, 5000))
    assert np.isnan(lin_ccc(columns, columns)).all()


def test_constant_in_one_condition_only_is_zero():
    # s_xy = 0 exactly, denominator s_y^2 + d^2 > 0
    assert lin_ccc(np.full(5, 0.1), X) == 0.0
    assert lin_ccc(X, np.full(5, 3.0)) == 0.0


def test_non_finite_values_make_only_that_feature_undefined():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    clean = lin_ccc(x, y)
    x[3, 1] = np.nan
    y[0, 2] = np.inf
    x[5, 4] = -np.inf
    result = lin_ccc(x, y)
    assert np.isnan(result[[1, 2, 4]]).all()
    np.testing.assert_array_equal(result[[0, 3]], clean[[0, 3]])


def test_fewer_than_two_patients_is_undefined():
    assert math.isnan(lin_ccc(np.array([1.0]), np.array([2.0])))
    assert np.isnan(lin_ccc(np.ones((1, 3)), np.ones((1, 3)))).all()
    assert lin_ccc(np.empty((0, 2)), np.empty((0, 2))).shape == (2,)


def test_one_dimensional_input_gives_a_float64_scalar():
    result = lin_ccc([1, 2, 3], [1, 2, 4])
    assert isinstance(result, np.float64) and np.ndim(result) == 0


@pytest.mark.parametrize(
    "shape_x, shape_y", [((5,), (4,)), ((5, 2), (5, 3)), ((5, 2, 1), (5, 2, 1)), ((), ())]
)
def test_mismatched_or_unsupported_shapes_are_rejected(shape_x, shape_y):
    with pytest.raises(ValueError, match="same shape|share a shape"):
        lin_ccc(np.zeros(shape_x), np.zeros(shape_y))
