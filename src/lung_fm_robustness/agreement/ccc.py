"""Lin's concordance correlation coefficient, its confidence interval and its parts.

A feature is robust when its value under a test reconstruction reproduces its value under the
reference reconstruction in location, scale and correlation at once; Lin's CCC scores all three.
One call scores every feature of an extractor for one pair of conditions.
"""

from statistics import NormalDist

import numpy as np
import pandas as pd

from .moments import PairedMoments, as_paired_columns, paired_moments

# McBride (2005) strength-of-agreement bands, lowest first.
MCBRIDE_BANDS = ("poor", "moderate", "substantial", "almost perfect")
INFERENCE_COLUMNS = (
    "ccc",
    "ccc_ci_low",
    "ccc_ci_high",
    "pearson_r",
    "bias_correction",
    "scale_shift",
    "location_shift",
    "mean_shift",
)


def lin_ccc(x: np.ndarray, y: np.ndarray) -> np.ndarray | np.float64:
    """Lin's CCC between the paired columns of ``x`` (reference) and ``y`` (test).

    ``ccc = 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)`` with Lin's (1989) 1/n moments, not
    the 1/(n-1) moments of torchmetrics or R yardstick: the two differ only in the squared
    mean-difference term, which the 1/(n-1) version weights by (n-1)/n.

    Args:
        x: reference values, shape (n,) for one feature or (n, F) for F features.
        y: test values, same shape; row i of ``x`` and ``y`` is the same patient.

    Returns:
        float64 array of shape (F,), or a float64 scalar for 1-D input. NaN marks a CCC that is
        undefined, never 0 or 1:

        - both variances are zero: the feature is constant across patients in both conditions,
          even at two different constants (Lin's formula would give 0/d^2 = 0 there and report a
          feature that carries no information as "no agreement");
        - any value of the feature is NaN or infinite in either condition;
        - fewer than two patients.

        A column counts as constant when its standard deviation is at most
        ``n * eps * max|value|`` (float64 eps), the rounding error of the mean of n equal
        floats, so a constant stored as floats is never mistaken for a varying feature. A feature
        constant in one condition only has CCC exactly 0.
    """
    ccc = ccc_from_moments(paired_moments(x, y))
    return ccc[0] if np.ndim(x) == 1 else ccc


def ccc_from_moments(moments: PairedMoments) -> np.ndarray:
    """Lin's CCC of every feature (and resample); NaN where undefined."""
    denominator = moments.var_x + moments.var_y + moments.mean_shift**2
    with np.errstate(divide="ignore", invalid="ignore"):
        ccc = np.where(moments.defined, 2.0 * moments.cov / denominator, np.nan)
    # Rounding can carry |ccc| a few ulp past 1.
    return np.clip(ccc, -1.0, 1.0)


def lin_ccc_inference(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> pd.DataFrame:
    """CCC of every feature with its asymptotic confidence interval and what it is made of.

    The interval is Lin's (1989, corrected 2000) asymptotic one on Fisher's z scale, as in R
    ``epiR::epi.ccc`` and ``DescTools::CCC`` (default ``ci = "z-transform"``)::

        SE^2 = [(1 - r^2) ccc^2 (1 - ccc^2) / r^2 + 2 ccc^3 (1 - ccc) u^2 / r
                - ccc^4 u^4 / (2 r^2)] / (n - 2)
        CI = tanh(atanh(ccc) -/+ z_q SE / (1 - ccc^2))

    evaluated as ``ccc = r C_b`` so that r = 0 needs no division by r.

    Returns:
        One row per feature, columns ``INFERENCE_COLUMNS``:

        - ``ccc``: as :func:`lin_ccc`;
        - ``ccc_ci_low``, ``ccc_ci_high``: the interval at ``confidence``; equal to the CCC when
          it is +-1; NaN with fewer than 3 patients, when a condition is constant, or when the
          variance estimate is not positive;
        - ``pearson_r``: precision; ``bias_correction``: accuracy ``C_b = 2 / (v + 1/v + u^2)``,
          so that ``ccc = r C_b``; ``scale_shift``: ``v = s_y / s_x``; ``location_shift``:
          ``u = (mean_y - mean_x) / sqrt(s_x s_y)``. NaN when a condition is constant;
        - ``mean_shift``: mean test minus mean reference, in the feature's own units.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x, y = as_paired_columns(x, y)
    moments = paired_moments(x, y)
    ccc = ccc_from_moments(moments)
    n = moments.n_patients
    with np.errstate(divide="ignore", invalid="ignore"):
        both_vary = moments.defined & (moments.var_x > 0) & (moments.var_y > 0)
        sd_x = np.where(both_vary, np.sqrt(moments.var_x), np.nan)
        sd_y = np.where(both_vary, np.sqrt(moments.var_y), np.nan)
        r = np.clip(moments.cov / np.sqrt(moments.var_x * moments.var_y), -1.0, 1.0)
        r = np.where(both_vary, r, np.nan)
        v = sd_y / sd_x
        u = moments.mean_shift / np.sqrt(sd_x * sd_y)
        c_b = 2.0 / (v + 1.0 / v + u**2)
        variance = (
            (1.0 - r**2) * c_b**2 * (1.0 - ccc**2)
            + 2.0 * c_b * ccc**2 * (1.0 - ccc) * u**2
            - c_b**2 * ccc**2 * u**4 / 2.0
        ) / (n - 2.0)
        half_width = NormalDist().inv_cdf(0.5 + confidence / 2.0) * np.sqrt(
            np.where((variance > 0) & (n > 2), variance, np.nan)
        ) / (1.0 - ccc**2)
        z = np.arctanh(ccc)
        low, high = np.tanh(z - half_width), np.tanh(z + half_width)
    perfect = both_vary & (np.abs(ccc) == 1.0)
    low[perfect] = high[perfect] = ccc[perfect]
    mean_shift = y.mean(axis=0) - x.mean(axis=0)
    values = (ccc, low, high, r, c_b, v, u, np.where(np.isfinite(mean_shift), mean_shift, np.nan))
    return pd.DataFrame(dict(zip(INFERENCE_COLUMNS, values)))


def mcbride_band(ccc: np.ndarray | pd.Series) -> np.ndarray:
    """McBride (2005) band of each CCC: "poor" < 0.90 <= "moderate" < 0.95 <= "substantial"
    <= 0.99 < "almost perfect"; None where the CCC is undefined.

    Applied to the point estimate. (McBride proposed judging the lower one-sided 95 % confidence
    limit; ``ccc_ci_low`` of :func:`lin_ccc_inference` is there for that reading.)
    """
    ccc = np.asarray(ccc, dtype=np.float64)
    poor, moderate, substantial, almost_perfect = MCBRIDE_BANDS
    return np.select(
        [ccc > 0.99, ccc >= 0.95, ccc >= 0.90, ccc < 0.90],
        [almost_perfect, substantial, moderate, poor],
        default=None,
    )
