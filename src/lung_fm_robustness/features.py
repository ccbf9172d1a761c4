"""Feature tables: one row per scan, identity columns first, then one column per feature.

``nodule_id`` names the nodule of the row when the scan table has one per nodule
(``ingestion.nodule_selection: all``) and is None otherwise; agreement pairs rows by
(patient_id, nodule_id) when it is set, by patient_id when not.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from lung_fm_robustness.datasets.scan_table import ScanTable

ID_COLUMNS = ("scan_id", "patient_id", "nodule_id", "kernel", "slice_thickness_mm")


def extractor_labels(fm_extractor: dict[str, Any], radiomics_extractor: dict[str, Any]) -> dict[str, str]:
    """What each extractor was, as every table and plot names it (the FM with its resampling
    mode, since the mode changes its inputs)."""
    return {
        "fm": f"{fm_extractor['label']} (resampling: {fm_extractor['resampling']})",
        "radiomics": radiomics_extractor["label"],
    }


def feature_table(scans: ScanTable, values: np.ndarray, names: Iterable[str]) -> pd.DataFrame:
    """Identity columns of ``scans`` (in row order) beside a (n_scans, n_features) matrix.

    ``nodule_id`` is stored as text or None (an object column, which parquet keeps even when
    every value is None). A scan table without the column predates it and has one nodule per
    patient, so its rows get None.
    """
    frame = scans.frame.reset_index(drop=True)
    ids = frame.reindex(columns=list(ID_COLUMNS))
    missing = [c for c in ID_COLUMNS if c != "nodule_id" and c not in frame.columns]
    if missing:
        raise ValueError(f"The scan table lacks the id columns {missing}; expected {list(ID_COLUMNS)}.")
    ids["nodule_id"] = pd.Series([None if pd.isna(v) else str(v) for v in ids["nodule_id"]], dtype=object)
    return pd.concat([ids, pd.DataFrame(values, columns=list(names))], axis=1)


def require_partitions(partitions: dict[str, Callable[[], Any]], keys: Iterable[str], dataset: str) -> None:
    """Every scan needs its partition; the error lists the missing ones and the remedy."""
    missing = [k for k in keys if k not in partitions]
    if missing:
        raise ValueError(
            f"{len(missing)} scan(s) have no partition in '{dataset}' (first: {missing[0]}); "
            "run the preprocessing pipeline again for the current scan table."
        )
