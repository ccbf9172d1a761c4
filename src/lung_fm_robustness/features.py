"""Feature tables: one row per scan, identity columns first, then one column per feature."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from lung_fm_robustness.datasets.scan_table import ScanTable

ID_COLUMNS = ("scan_id", "patient_id", "kernel", "slice_thickness_mm")


def feature_table(scans: ScanTable, values: np.ndarray, names: Iterable[str]) -> pd.DataFrame:
    """Identity columns of ``scans`` (in row order) beside a (n_scans, n_features) matrix."""
    ids = scans.frame.loc[:, list(ID_COLUMNS)].reset_index(drop=True)
    return pd.concat([ids, pd.DataFrame(values, columns=list(names))], axis=1)


def require_partitions(partitions: dict[str, Callable[[], Any]], keys: Iterable[str], dataset: str) -> None:
    """Every scan needs its partition; the error lists the missing ones and the remedy."""
    missing = [k for k in keys if k not in partitions]
    if missing:
        raise ValueError(
            f"{len(missing)} scan(s) have no partition in '{dataset}' (first: {missing[0]}); "
            "run the preprocessing pipeline again for the current scan table."
        )
