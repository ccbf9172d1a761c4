"""ICC(3,1) and ICC(2,1) against Shrout & Fleiss's (1979) worked example and a plain two-way
ANOVA written out with loops for any number of raters."""

import math

import numpy as np
import pytest

from lung_fm_robustness.agreement.ccc import lin_ccc
from lung_fm_robustness.agreement.icc import icc2_1, icc3_1

# Shrout & Fleiss (1979), Table 2: 6 targets (rows) rated by 4 judges (columns). Published:
# BMS 11.24, JMS 32.49, EMS 1.02; ICC(2,1) = 0.29, ICC(3,1) = 0.71.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def anova_icc(ratings: list[list[float]]) -> dict[str, float]:
    """Shrout & Fleiss ICC(2,1) and ICC(3,1) of an n targets x k raters table, from the two-way
    ANOVA sums of squares, with loops."""
    n, k = len(ratings), len(ratings[0])
    grand = sum(sum(row) for row in ratings) / (n * k)
    row_means = [sum(row) / k for row in ratings]
    column_means = [sum(row[j] for row in ratings) / n for j in range(k)]
    ss_rows = k * sum((m - grand) ** 2 for m in row_means)
    ss_columns = n * sum((m - grand) ** 2 for m in column_means)
    ss_total = sum((value - grand) ** 2 for row in ratings for value in row)
    ss_error = ss_total - ss_rows - ss_columns
    bms = ss_rows / (n - 1)
    jms = ss_columns / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    return {
        "bms": bms,
        "jms": jms,
        "ems": ems,
        "icc2_1": (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n),
        "icc3_1": (bms - ems) / (bms + (k - 1) * ems),
    }


def test_the_independent_anova_reproduces_the_published_four_judge_values():
    result = anova_icc(SHROUT_FLEISS)
    assert round(result["bms"], 2) == 11.24
    assert round(result["jms"], 2) == 32.49
    assert round(result["ems"], 2) == 1.02
    assert round(result["icc2_1"], 2) == 0.29
    assert round(result["icc3_1"], 2) == 0.71


def test_two_rater_iccs_match_the_anova_for_every_pair_of_judges():
    table = np.array(SHROUT_FLEISS, dtype=float)
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    x = table[:, [i for i, _ in pairs]]
    y = table[:, [j for _, j in pairs]]
    ours_3, ours_2 = icc3_1(x, y), icc2_1(x, y)
    for column, (i, j) in enumerate(pairs):
        expected = anova_icc(table[:, [i, j]].tolist())
        assert ours_3[column] == pytest.approx(expected["icc3_1"], rel=1e-12, abs=1e-15)
        assert ours_2[column] == pytest.approx(expected["icc2_1"], rel=1e-12, abs=1e-15)


def test_vectorised_over_features_on_random_data():
    rng = np.random.default_rng(17)
    n, n_features = 23, 40
    x = rng.normal(0, 1, size=(n, n_features)) * rng.uniform(0.1, 100, n_features)
    y = x * rng.uniform(0.5, 1.5, n_features) + rng.normal(size=(n, n_features)) * 3 + rng.normal(0, 10, n_features)
    ours_3, ours_2 = icc3_1(x, y), icc2_1(x, y)
    for j in range(n_features):
        expected = anova_icc(np.column_stack([x[:, j], y[:, j]]).tolist())
        assert ours_3[j] == pytest.approx(expected["icc3_1"], rel=1e-10)
        assert ours_2[j] == pytest.approx(expected["icc2_1"], rel=1e-10)


def test_consistency_ignores_a_shift_absolute_agreement_does_not():
    x = np.array([1.0, 2.0, 4.0, 7.0, 8.0, 11.0])
    y = x + np.array([0.5, -0.3, 0.2, 0.0, -0.4, 0.1])
    assert icc3_1(x[:, None], y[:, None] + 5.0)[0] == pytest.approx(icc3_1(x[:, None], y[:, None])[0])
    assert icc2_1(x[:, None], y[:, None] + 5.0)[0] < icc2_1(x[:, None], y[:, None])[0]
    # ICC(3,1) = 2 s_xy / (s_x^2 + s_y^2): the CCC when the means agree
    centred = y - y.mean() + x.mean()
    assert icc3_1(x[:, None], centred[:, None])[0] == pytest.approx(lin_ccc(x, centred), rel=1e-12)


def test_identical_constant_and_degenerate_features():
    x = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, 1.0]])
    y = np.array([[1.0, 5.0, 1.0], [2.0, 5.0, 0.0]])
    # identical -> 1; constant in both -> undefined; two patients in exact opposition:
    # ICC(3,1) = -1, while ICC(2,1)'s ANOVA (one degree of freedom) has a zero denominator.
    consistency, absolute = icc3_1(x, y), icc2_1(x, y)
    assert consistency[0] == 1.0 and absolute[0] == 1.0
    assert math.isnan(consistency[1]) and math.isnan(absolute[1])
    assert consistency[2] == -1.0 and math.isnan(absolute[2])
