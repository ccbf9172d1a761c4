"""Lin's concordance correlation coefficient, vectorised over features.

A feature is robust when its value under a test reconstruction reproduces its value under the
reference reconstruction in location, scale and correlation at once; Lin's CCC scores all three.
One call scores every feature of an extractor for one pair of conditions.
"""

import numpy as np

_EPS = np.finfo(np.float64).eps


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
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim not in (1, 2):
        raise ValueError(
            f"x and y must share a shape (n,) or (n, F); got {x.shape} and {y.shape}"
        )
    one_feature = x.ndim == 1
    if one_feature:
        x, y = x[:, np.newaxis], y[:, np.newaxis]

    ccc = np.full(x.shape[1], np.nan)
    finite = np.isfinite(x).all(axis=0) & np.isfinite(y).all(axis=0)
    if x.shape[0] >= 2 and finite.any():
        ccc[finite] = _ccc_of_finite_columns(x[:, finite], y[:, finite])
    return ccc[0] if one_feature else ccc


def _ccc_of_finite_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CCC of (n >= 2, F) finite columns; NaN where both columns are constant."""
    # CCC is unchanged when x and y are divided by the same positive number. Dividing by a power
    # of two that brings the column's largest magnitude into [1, 2) keeps the squares of large
    # features (radiomics energy) finite and, being exact, leaves hand-checkable results exact.
    largest = np.maximum(np.abs(x).max(axis=0), np.abs(y).max(axis=0))
    scale = np.ldexp(1.0, np.frexp(largest)[1] - 1)
    x = x / scale
    y = y / scale

    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    dev_x, dev_y = x - mean_x, y - mean_y
    constant_x = _is_constant(dev_x, x)
    constant_y = _is_constant(dev_y, y)
    dev_x[:, constant_x] = 0.0
    dev_y[:, constant_y] = 0.0

    defined = ~(constant_x & constant_y)
    dev_x, dev_y = dev_x[:, defined], dev_y[:, defined]
    var_x = np.mean(dev_x**2, axis=0)
    var_y = np.mean(dev_y**2, axis=0)
    cov = np.mean(dev_x * dev_y, axis=0)
    shift_sq = (mean_x[defined] - mean_y[defined]) ** 2
    ccc = np.full(x.shape[1], np.nan)
    ccc[defined] = 2.0 * cov / (var_x + var_y + shift_sq)
    # Rounding can carry |ccc| a few ulp past 1.
    return np.clip(ccc, -1.0, 1.0)


def _is_constant(deviations: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Columns whose spread is within the rounding error of their mean."""
    n = values.shape[0]
    spread = np.sqrt(np.mean(deviations**2, axis=0))
    return spread <= n * _EPS * np.abs(values).max(axis=0)
