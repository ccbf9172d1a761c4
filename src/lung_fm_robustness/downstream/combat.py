"""ComBat harmonisation of feature tables across reconstruction conditions (neuroCombat).

Condition is the batch; no label or other covariate enters, so harmonising cannot leak a task's
labels. It is fitted on every scan at once, test patients included (unsupervised, as ComBat is
used in practice); see the README. neuroCombat's ``ref_batch`` cannot be used (it calls
``np.int``, removed in numpy 2), so every condition, the reference included, is moved to the
pooled location and scale.
"""
from __future__ import annotations

import contextlib
import io
import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
from neuroCombat import neuroCombat

from lung_fm_robustness.features import ID_COLUMNS

logger = logging.getLogger(__name__)


class Harmonised(NamedTuple):
    """A harmonised feature table and how many features were passed through unchanged."""

    table: pd.DataFrame
    n_features: int
    n_unharmonised: int  # constant or non-finite within some condition: ComBat cannot scale them


def combat_harmonise(features: pd.DataFrame) -> Harmonised:
    """The table with every feature ComBat-harmonised across (kernel, slice thickness).

    Features that are non-finite anywhere or constant within any condition (ComBat divides by
    their within-condition variance) are left as they are, and counted.
    """
    ids = [c for c in ID_COLUMNS if c in features.columns]
    names = [c for c in features.columns if c not in ID_COLUMNS]
    batch = features["kernel"].astype(str) + "_" + features["slice_thickness_mm"].astype(float).map("{:.1f}".format)
    if batch.nunique() < 2:
        raise ValueError("ComBat needs at least two conditions (kernel, slice thickness) in the feature table.")
    values = features[names].to_numpy(dtype=np.float64)
    usable = np.isfinite(values).all(axis=0)
    for _, rows in pd.Series(np.arange(len(batch))).groupby(batch.to_numpy()):
        block = values[rows.to_numpy()]
        usable &= np.nanstd(block, axis=0) > 1e-12 * np.maximum(np.nanmax(np.abs(block), axis=0), 1e-300)
    harmonised = values.copy()
    if usable.sum() >= 2:
        covars = pd.DataFrame({"batch": batch.to_numpy()})
        with contextlib.redirect_stdout(io.StringIO()):  # neuroCombat prints its progress
            result = neuroCombat(dat=values[:, usable].T, covars=covars, batch_col="batch")
        harmonised[:, usable] = np.asarray(result["data"]).T
    n_unharmonised = int((~usable).sum()) if usable.sum() >= 2 else len(names)
    if n_unharmonised:
        logger.info("ComBat: %d of %d features left unharmonised (constant or non-finite within a condition)",
                    n_unharmonised, len(names))
    table = pd.concat([features[ids].reset_index(drop=True), pd.DataFrame(harmonised, columns=names)], axis=1)
    return Harmonised(table, len(names), n_unharmonised)
