"""Paired moments over patients: everything the agreement coefficients need to know of the data.

Lin's CCC, ICC(3,1) and ICC(2,1) of two conditions depend on the paired values only through the
number of patients, the two variances, the covariance and the difference of the means. Computing
those once - exactly (two passes) for the estimate, as weighted sums for bootstrap resamples -
lets one formula per coefficient serve both.
"""

from dataclasses import dataclass

import numpy as np

_EPS = np.finfo(np.float64).eps


@dataclass(frozen=True)
class PairedMoments:
    """1/n moments of F paired features, arrays of shape (F,) or (B, F) for B resamples.

    Each feature may be rescaled by a positive factor common to both conditions (to keep squares
    finite), which changes no agreement coefficient. Where ``defined`` is False the coefficients
    are undefined: the feature is constant in both conditions, has a non-finite value, or there
    are fewer than two patients.
    """

    n_patients: np.ndarray  # broadcasts against the other fields
    var_x: np.ndarray
    var_y: np.ndarray
    cov: np.ndarray
    mean_shift: np.ndarray  # mean of y (test) minus mean of x (reference)
    defined: np.ndarray


def as_paired_columns(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float64 (n, F) arrays; one feature may be given as shape (n,)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim not in (1, 2):
        raise ValueError(
            f"x and y must share a shape (n,) or (n, F); got {x.shape} and {y.shape}"
        )
    if x.ndim == 1:
        return x[:, np.newaxis], y[:, np.newaxis]
    return x, y


def paired_moments(x: np.ndarray, y: np.ndarray) -> PairedMoments:
    """Two-pass moments of the (n, F) reference ``x`` and test ``y`` columns.

    A column counts as constant when its standard deviation is at most ``n * eps * max|value|``
    (float64 eps), the rounding error of the mean of n equal floats; its deviations are then
    exactly zero, so a feature constant in one condition only has covariance exactly 0. Undefined
    features get NaN moments.
    """
    x, y = as_paired_columns(x, y)
    n, n_features = x.shape
    nan = np.full(n_features, np.nan)
    var_x, var_y, cov, shift = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    finite = np.isfinite(x).all(axis=0) & np.isfinite(y).all(axis=0)
    defined = finite & (n >= 2)
    if defined.any():
        xs, ys = _scaled(x[:, defined], y[:, defined])
        mean_x, mean_y = xs.mean(axis=0), ys.mean(axis=0)
        dev_x, dev_y = xs - mean_x, ys - mean_y
        dev_x[:, _is_constant(dev_x, xs)] = 0.0
        dev_y[:, _is_constant(dev_y, ys)] = 0.0
        var_x[defined] = np.mean(dev_x**2, axis=0)
        var_y[defined] = np.mean(dev_y**2, axis=0)
        cov[defined] = np.mean(dev_x * dev_y, axis=0)
        shift[defined] = mean_y - mean_x
        both_constant = (var_x == 0.0) & (var_y == 0.0)
        defined &= ~both_constant
        for moment in (var_x, var_y, cov, shift):
            moment[both_constant] = np.nan
    return PairedMoments(np.asarray(float(n)), var_x, var_y, cov, shift, defined)


def resampled_moments(counts: np.ndarray, x: np.ndarray, y: np.ndarray) -> PairedMoments:
    """Moments of B bootstrap resamples of the patients at once, without copying any resample.

    Args:
        counts: (B, n) how many times each patient is drawn in each resample.
        x, y: (n, F) reference and test values of the same patients.

    Returns:
        (B, F) moments and (B, 1) patient counts. Each moment is a weighted sum, so all resamples
        come from one matrix product ``counts @ [x, y, x^2, y^2, x*y]`` of the columns centred
        on the full-sample means (which keeps the cancellation in ``E[x^2] - E[x]^2`` small).
        A feature is constant in a resample when its variance is within the rounding error of
        that difference, ``n * eps * E[x^2]``; constant in both conditions, it is undefined there.
        Columns with a non-finite value are undefined in every resample.
    """
    x, y = as_paired_columns(x, y)
    finite = np.isfinite(x).all(axis=0) & np.isfinite(y).all(axis=0)
    x = np.where(finite, x, 0.0)
    y = np.where(finite, y, 0.0)
    full_shift = y.mean(axis=0) - x.mean(axis=0)
    x_centred, y_centred = x - x.mean(axis=0), y - y.mean(axis=0)
    scale = _power_of_two_scale(x_centred, y_centred)
    x_centred, y_centred, full_shift = x_centred / scale, y_centred / scale, full_shift / scale

    weights = np.asarray(counts, dtype=np.float64)
    n_drawn = weights.sum(axis=1, keepdims=True)
    stacked = np.hstack([x_centred, y_centred, x_centred**2, y_centred**2, x_centred * y_centred])
    sums = (weights @ stacked) / n_drawn
    mean_x, mean_y, square_x, square_y, cross = np.split(sums, 5, axis=1)

    var_x = square_x - mean_x**2
    var_y = square_y - mean_y**2
    constant_x = var_x <= n_drawn * _EPS * square_x
    constant_y = var_y <= n_drawn * _EPS * square_y
    var_x[constant_x] = 0.0
    var_y[constant_y] = 0.0
    cov = np.where(constant_x | constant_y, 0.0, cross - mean_x * mean_y)
    defined = ~(constant_x & constant_y) & finite & (n_drawn >= 2)
    return PairedMoments(n_drawn, var_x, var_y, cov, full_shift + mean_y - mean_x, defined)


def _scaled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide both columns by the power of two that brings their largest magnitude into [1, 2).

    Exact, so hand-checkable results stay exact, and it keeps squares of large features
    (radiomics energy) finite.
    """
    scale = _power_of_two_scale(x, y)
    return x / scale, y / scale


def _power_of_two_scale(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    largest = np.maximum(np.abs(x).max(axis=0), np.abs(y).max(axis=0))
    return np.where(largest > 0, np.ldexp(1.0, np.frexp(largest)[1] - 1), 1.0)


def _is_constant(deviations: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Columns whose spread is within the rounding error of their mean."""
    n = values.shape[0]
    spread = np.sqrt(np.mean(deviations**2, axis=0))
    return spread <= n * _EPS * np.abs(values).max(axis=0)
