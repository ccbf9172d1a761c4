"""Lin's CCC confidence interval and its parts, against epiR's published output, a computation
by hand in plain Python, and simulation; McBride's bands."""

import math

import numpy as np
import pytest

from lung_fm_robustness.agreement.ccc import INFERENCE_COLUMNS, lin_ccc, lin_ccc_inference, mcbride_band

Z_975 = 1.959963984540054  # the standard normal's 97.5 % quantile

# epiR::epi.ccc's documented example (set.seed(1234); method1 <- rnorm(25);
# method2 <- method1 + runif(25, -0.5, 0.5)), its values regenerated with R's Mersenne-Twister and
# inversion sampler; the first six rows match the rows R prints. Published output
# (https://md.softxinnovations.ai/basic_app/ccc/, epiR 1.0-15): rho.c 0.9461401, 95 % CI
# (z-transform) 0.8857455 - 0.9750329, s.shift 1.08911, l.shift -0.1038458, C.b 0.9910435.
EPIR_METHOD1 = [
    -1.207065749385421, 0.27742924211066, 1.0844411766830553, -2.3456977026293497,
    0.42912468881105004, 0.506055892157574, -0.5747399601346489, -0.546631855784187,
    -0.5644519990932831, -0.8900378290441038, -0.4771926997535471, -0.9983864448597038,
    -0.7762538946379901, 0.06445881727626936, 0.9594940589707713, -0.11028549439077431,
    -0.5110095058066422, -0.9111954166298114, -0.8371716802689395, 2.415835178489341,
    0.13408822015203126, -0.490685896690943, -0.44054787235322723, 0.4595894410058535,
    -0.6937202469374756,
]  # fmt: skip
EPIR_METHOD2 = [
    -1.6332858693162249, 0.08711584397110872, 1.3017129200253357, -2.3411517904827814,
    0.08212364775818703, 0.5099893803160831, -0.58077903708505, -0.2954316587524656,
    -0.8898021751706192, -0.5416454186074586, -0.11235886773360709, -1.456529169679185,
    -0.9590717393119813, -0.42179124356703446, 0.6985197856523465, 0.09620912288511937,
    -0.7029147486632341, -0.9026478509628527, -1.28552506093226, 2.4804050184642064,
    -0.2444315926796239, -0.09784951500967953, -0.9259206166210336, 0.7427105446595378,
    -1.1037589139699708,
]  # fmt: skip

# 30 paired blood pressures (intra-arterial reference, cuff), StatsToDo's Lin's CCC example.
BLOOD_PRESSURE = [
    (127, 134), (118, 120), (135, 142), (123, 115), (112, 117), (119, 123), (125, 125),
    (109, 111), (106, 122), (110, 115), (111, 109), (125, 127), (119, 118), (140, 139),
    (115, 111), (110, 110), (122, 122), (119, 115), (134, 137), (105, 105), (117, 112),
    (111, 113), (114, 115), (126, 119), (113, 115), (129, 127), (130, 129), (130, 130),
    (115, 120), (131, 126),
]  # fmt: skip


def lin_2000_by_hand(x: list[float], y: list[float], z: float = Z_975) -> dict[str, float]:
    """Lin's CCC, its parts and its z-transform interval, in plain Python from the formulas as
    written in the reference note (divisions by r and all)."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x) / n
    syy = sum((b - my) ** 2 for b in y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y)) / n
    ccc = 2 * sxy / (sxx + syy + (mx - my) ** 2)
    r = sxy / math.sqrt(sxx * syy)
    v = math.sqrt(syy) / math.sqrt(sxx)
    u = (my - mx) / math.sqrt(math.sqrt(sxx) * math.sqrt(syy))
    se = math.sqrt(
        (
            (1 - r**2) * ccc**2 * (1 - ccc**2) / r**2
            + 2 * ccc**3 * (1 - ccc) * u**2 / r
            - ccc**4 * u**4 / (2 * r**2)
        )
        / (n - 2)
    )
    se_z = se / (1 - ccc**2)
    return {
        "ccc": ccc,
        "ccc_ci_low": math.tanh(math.atanh(ccc) - z * se_z),
        "ccc_ci_high": math.tanh(math.atanh(ccc) + z * se_z),
        "pearson_r": r,
        "bias_correction": 2 / (v + 1 / v + u**2),
        "scale_shift": v,
        "location_shift": u,
        "mean_shift": my - mx,
    }


def test_reproduces_epir_published_example():
    result = lin_ccc_inference(EPIR_METHOD1, EPIR_METHOD2).iloc[0]
    assert round(result["ccc"], 7) == 0.9461401
    assert round(result["ccc_ci_low"], 7) == 0.8857455
    assert round(result["ccc_ci_high"], 7) == 0.9750329
    assert round(result["scale_shift"], 5) == 1.08911
    assert round(result["location_shift"], 7) == -0.1038458
    assert round(result["bias_correction"], 7) == 0.9910435


def test_matches_the_formula_computed_by_hand():
    x = [float(a) for a, _ in BLOOD_PRESSURE]
    y = [float(b) for _, b in BLOOD_PRESSURE]
    expected = lin_2000_by_hand(x, y)
    result = lin_ccc_inference(x, y).iloc[0]
    for column in INFERENCE_COLUMNS:
        assert result[column] == pytest.approx(expected[column], rel=1e-12), column
    # StatsToDo's published summary of these data: r = 0.87, means 120 and 120.77.
    assert round(result["pearson_r"], 2) == 0.87
    assert round(result["mean_shift"], 2) == 0.77


def test_every_column_of_many_features_matches_the_hand_computation():
    rng = np.random.default_rng(3)
    x = rng.normal(50, 10, size=(40, 12))
    y = x * rng.uniform(0.7, 1.3, 12) + rng.normal(0, 5, size=(40, 12)) + rng.normal(0, 4, 12)
    table = lin_ccc_inference(x, y, confidence=0.9)
    assert tuple(table.columns) == INFERENCE_COLUMNS and len(table) == 12
    np.testing.assert_array_equal(table["ccc"], lin_ccc(x, y))
    z90 = 1.6448536269514722
    for j in range(12):
        expected = lin_2000_by_hand(x[:, j].tolist(), y[:, j].tolist(), z=z90)
        for column in INFERENCE_COLUMNS:
            assert table.loc[j, column] == pytest.approx(expected[column], rel=1e-10), column


def test_interval_narrows_with_lower_confidence_and_contains_the_estimate():
    x = np.array(EPIR_METHOD1)
    y = np.array(EPIR_METHOD2)
    wide = lin_ccc_inference(x, y, 0.99).iloc[0]
    narrow = lin_ccc_inference(x, y, 0.8).iloc[0]
    assert wide["ccc_ci_low"] < narrow["ccc_ci_low"] < narrow["ccc"] < narrow["ccc_ci_high"] < wide["ccc_ci_high"]


def test_lin_interval_covers_the_population_ccc():
    # Bivariate normal: mean shift 0.3, s_y = 1.2, rho = 0.9 -> CCC = 2 * 0.9 * 1.2 / (1 + 1.44 + 0.09)
    rng = np.random.default_rng(2024)
    rho, sd_y, shift, n, replications = 0.9, 1.2, 0.3, 59, 600
    population_ccc = 2 * rho * sd_y / (1 + sd_y**2 + shift**2)
    covariance = [[1.0, rho * sd_y], [rho * sd_y, sd_y**2]]
    samples = rng.multivariate_normal([0.0, shift], covariance, size=(n, replications))
    table = lin_ccc_inference(samples[:, :, 0], samples[:, :, 1])
    covered = (table["ccc_ci_low"] <= population_ccc) & (population_ccc <= table["ccc_ci_high"])
    assert 0.92 <= covered.mean() <= 0.98


def test_edge_cases_are_exact_or_undefined():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    columns = np.column_stack([x, x, np.full(5, 7.0)])
    tests = np.column_stack([x, np.full(5, 2.0), np.full(5, 9.0)])
    table = lin_ccc_inference(columns, tests)
    # identical: perfect agreement, interval collapsed on it
    assert table.loc[0, ["ccc", "ccc_ci_low", "ccc_ci_high", "pearson_r", "bias_correction", "scale_shift"]].tolist() == [1.0] * 6
    assert table.loc[0, ["location_shift", "mean_shift"]].tolist() == [0.0, 0.0]
    # constant under the test condition only: CCC 0, no correlation or interval, mean shift kept
    assert table.loc[1, "ccc"] == 0.0
    assert table.loc[1, ["ccc_ci_low", "ccc_ci_high", "pearson_r", "bias_correction"]].isna().all()
    assert table.loc[1, "mean_shift"] == pytest.approx(-1.0)
    # constant in both: undefined, but the mean shift is still a number
    assert table.loc[2, list(INFERENCE_COLUMNS[:-1])].isna().all()
    assert table.loc[2, "mean_shift"] == 2.0
    # two patients: a CCC, no interval (n - 2 = 0 degrees of freedom)
    two = lin_ccc_inference([1.0, 2.0], [1.5, 2.0]).iloc[0]
    assert two["ccc"] == pytest.approx(lin_ccc([1.0, 2.0], [1.5, 2.0]))
    assert math.isnan(two["ccc_ci_low"]) and math.isnan(two["ccc_ci_high"])
    # a non-finite value makes everything undefined
    assert lin_ccc_inference([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]).iloc[0].isna().all()


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0, -0.5])
def test_confidence_outside_the_unit_interval_is_rejected(confidence):
    with pytest.raises(ValueError, match="confidence"):
        lin_ccc_inference([1.0, 2.0, 3.0], [1.0, 2.0, 3.5], confidence)


def test_mcbride_bands_and_their_boundaries():
    values = [-0.3, 0.8999, 0.90, 0.9499, 0.95, 0.99, 0.9901, 1.0, np.nan]
    assert mcbride_band(values).tolist() == [
        "poor", "poor", "moderate", "moderate", "substantial", "substantial",
        "almost perfect", "almost perfect", None,
    ]  # fmt: skip
