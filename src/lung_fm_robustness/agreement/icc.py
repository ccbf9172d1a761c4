"""Shrout & Fleiss (1979) intraclass correlations of two conditions, vectorised over features.

The patients x 2 conditions matrix of one feature gives the two-way ANOVA mean squares
BMS (patients), JMS (conditions) and EMS (residual), and with k = 2 raters

- ICC(3,1), two-way mixed, consistency: ``(BMS - EMS) / (BMS + EMS)``;
- ICC(2,1), two-way random, absolute agreement:
  ``(BMS - EMS) / (BMS + EMS + 2 (JMS - EMS) / n)``.

With 1/n moments, ``BMS = n (s_x^2 + s_y^2 + 2 s_xy) / (2 (n - 1))``,
``EMS = n (s_x^2 + s_y^2 - 2 s_xy) / (2 (n - 1))`` and ``JMS = n d^2 / 2`` (d the mean
difference), so both are formulas of the paired moments:

- ICC(3,1) = ``2 s_xy / (s_x^2 + s_y^2)``: the CCC without its penalty for a mean shift;
- ICC(2,1) = ``2 s_xy / (s_x^2 + s_y^2 + (n - 1) d^2 / n - (s_x^2 + s_y^2 - 2 s_xy) / n)``.
"""

import numpy as np

from .moments import PairedMoments, paired_moments


def icc3_1_from_moments(moments: PairedMoments) -> np.ndarray:
    """ICC(3,1) of every feature (and resample); NaN where undefined."""
    return _ratio(2.0 * moments.cov, moments.var_x + moments.var_y, moments.defined)


def icc2_1_from_moments(moments: PairedMoments) -> np.ndarray:
    """ICC(2,1) of every feature (and resample); NaN where undefined."""
    n = moments.n_patients
    total = moments.var_x + moments.var_y
    denominator = total + (n - 1.0) / n * moments.mean_shift**2 - (total - 2.0 * moments.cov) / n
    return _ratio(2.0 * moments.cov, denominator, moments.defined)


def icc3_1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ICC(3,1) of the paired (n, F) columns of ``x`` (reference) and ``y`` (test)."""
    return icc3_1_from_moments(paired_moments(x, y))


def icc2_1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ICC(2,1) of the paired (n, F) columns of ``x`` (reference) and ``y`` (test)."""
    return icc2_1_from_moments(paired_moments(x, y))


def _ratio(numerator: np.ndarray, denominator: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """numerator / denominator where defined; NaN elsewhere and where the denominator is not
    positive (possible only with two patients, whose ANOVA has one degree of freedom)."""
    valid = defined & (denominator > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(valid, numerator / np.where(valid, denominator, 1.0), np.nan)
