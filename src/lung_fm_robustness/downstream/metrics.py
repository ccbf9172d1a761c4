"""Discrimination and prediction agreement: AUC with DeLong's confidence interval, and how
much a condition's predicted probabilities and classes differ from the reference's."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

from lung_fm_robustness.agreement.ccc import lin_ccc


def auc_with_delong_ci(labels: np.ndarray, scores: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """AUC (Mann-Whitney: P(score of a positive > score of a negative), ties count 1/2) and
    DeLong's (1988) asymptotic interval ``auc +- z * se``, clipped to [0, 1].

    DeLong's variance is ``var(V10)/m + var(V01)/n`` from the placement values of the m
    positives and n negatives. Returns NaNs when a class is empty.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = scores[labels], scores[~labels]
    m, n = len(positives), len(negatives)
    if m == 0 or n == 0:
        return np.nan, np.nan, np.nan
    # psi(x, y) = 1 if x > y, 1/2 if equal: one (m, n) comparison matrix (cohorts are small).
    psi = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    v10 = psi.mean(axis=1)  # placement of each positive among the negatives
    v01 = psi.mean(axis=0)  # placement of each negative among the positives
    auc = float(v10.mean())
    variance = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * float(np.sqrt(variance))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def probability_ccc(reference: np.ndarray, condition: np.ndarray) -> float:
    """Lin's CCC of the patients' predicted probabilities under a condition against the
    reference (the project's CCC: NaN when both are constant)."""
    return float(lin_ccc(np.asarray(reference, dtype=np.float64), np.asarray(condition, dtype=np.float64)))


def flip_share(reference: np.ndarray, condition: np.ndarray, threshold: float) -> float:
    """Share of patients whose predicted class (probability >= threshold) differs from the
    reference's."""
    reference, condition = np.asarray(reference), np.asarray(condition)
    return float(np.mean((reference >= threshold) != (condition >= threshold)))
