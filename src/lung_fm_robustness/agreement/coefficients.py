"""The agreement coefficients ``agreement.metrics`` can name, each a formula of paired moments.

Keyed by the name used in parameters, table columns and MLflow metric keys. Because every one is
a function of :class:`~.moments.PairedMoments`, the estimate and all bootstrap resamples share it.
"""

from collections.abc import Callable

import numpy as np

from .ccc import ccc_from_moments
from .icc import icc2_1_from_moments, icc3_1_from_moments
from .moments import PairedMoments

COEFFICIENTS: dict[str, Callable[[PairedMoments], np.ndarray]] = {
    "ccc": ccc_from_moments,
    "icc3_1": icc3_1_from_moments,
    "icc2_1": icc2_1_from_moments,
}
DESCRIPTIONS = {
    "ccc": "Lin's CCC",
    "icc3_1": "ICC(3,1), consistency",
    "icc2_1": "ICC(2,1), absolute agreement",
}
