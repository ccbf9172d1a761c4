"""AUC, its DeLong interval, probability CCC and flip share against independent computations."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lung_fm_robustness.downstream.metrics import (
    auc_with_delong_ci,
    flip_share,
    probability_ccc,
)


def brute_force_auc(labels, scores):
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def midrank_delong_se(labels, scores):
    """DeLong's standard error the way Sun & Xu (2014) compute it: from midranks, no pair matrix."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    x, y = scores[labels], scores[~labels]
    m, n = len(x), len(y)
    tz = rankdata(np.concatenate([x, y]))
    tx, ty = rankdata(x), rankdata(y)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_and_brute_force_mann_whitney_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounding makes ties
    auc, low, high = auc_with_delong_ci(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc == pytest.approx(brute_force_auc(labels, scores), abs=1e-12)
    z = NormalDist().inv_cdf(0.975)
    se = midrank_delong_se(labels, scores)
    assert low == pytest.approx(max(0.0, auc - z * se), abs=1e-12)
    assert high == pytest.approx(min(1.0, auc + z * se), abs=1e-12)


def test_delong_interval_covers_the_true_auc_about_95_percent_of_the_time():
    # Scores N(0,1) for negatives and N(d,1) for positives: true AUC = Phi(d / sqrt(2)).
    rng = np.random.default_rng(7)
    d = 1.0
    true_auc = NormalDist().cdf(d / np.sqrt(2))
    covered = 0
    n_sim = 600
    for _ in range(n_sim):
        labels = np.r_[np.ones(40, int), np.zeros(40, int)]
        scores = np.r_[rng.normal(d, 1, 40), rng.normal(0, 1, 40)]
        _, low, high = auc_with_delong_ci(labels, scores)
        covered += low <= true_auc <= high
    assert 0.92 <= covered / n_sim <= 0.975


def test_perfect_separation_and_empty_class():
    assert auc_with_delong_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == (1.0, 1.0, 1.0)
    assert auc_with_delong_ci([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])[0] == 0.0
    assert all(np.isnan(auc_with_delong_ci([1, 1], [0.1, 0.2])))


def test_flip_share_and_probability_ccc_known_values():
    reference = np.array([0.1, 0.4, 0.6, 0.9])
    assert flip_share(reference, reference, 0.5) == 0.0
    assert flip_share(reference, np.array([0.1, 0.55, 0.45, 0.9]), 0.5) == 0.5
    assert flip_share(reference, np.array([0.1, 0.5, 0.6, 0.9]), 0.5) == 0.25  # 0.5 counts as positive
    assert probability_ccc(reference, reference) == pytest.approx(1.0)
    shifted = reference + 0.1
    # Lin's CCC with 1/n moments: 2 s_xy / (s_x^2 + s_y^2 + d^2); here s_xy = s_x^2 = s_y^2.
    var = np.var(reference)
    assert probability_ccc(reference, shifted) == pytest.approx(2 * var / (2 * var + 0.01))
