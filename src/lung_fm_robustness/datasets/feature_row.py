"""One scan's feature values (a named vector) in a small .npz file.

Per-scan FM rows have 4,096 values: a one-row Parquet file of 4,096 columns is slow to
write and read, a compressed .npz of names and values (~20 KB) is not. The dtype (float32 for the FM network,
float64 for PyRadiomics) is kept.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from lung_fm_robustness.datasets.atomic import atomic_path


class FeatureRowDataset(AbstractDataset[pd.Series, pd.Series]):
    """A ``pandas.Series`` of feature values indexed by feature name, saved atomically."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> pd.Series:
        if not Path(self._filepath).is_file():
            raise DatasetError(f"Feature row not found: '{self._filepath}'.")
        with np.load(self._filepath, allow_pickle=False) as saved:
            return pd.Series(saved["values"], index=saved["names"].astype(str))

    def save(self, data: pd.Series) -> None:
        if not isinstance(data, pd.Series):
            raise DatasetError(f"FeatureRowDataset('{self._filepath}') saves a pandas Series, got {type(data).__name__}.")
        with atomic_path(self._filepath, ".npz") as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, names=np.asarray(data.index, dtype=str), values=data.to_numpy())

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def stack_feature_rows(rows: dict[str, Any], order: list[str], dataset: str) -> tuple[np.ndarray, list[str]]:
    """The saved rows of the scans in ``order`` as one (n_scans, n_features) matrix and the
    feature names; rows naming other features than the first are an error naming the scan."""
    missing = [scan for scan in order if scan not in rows]
    if missing:
        raise ValueError(
            f"{len(missing)} scan(s) have no partition in '{dataset}' (first: {missing[0]}); "
            "run its feature pipeline again for the current scan table."
        )
    values, names = None, None
    for i, scan in enumerate(order):
        row = rows[scan]()
        if values is None:
            names = list(row.index)
            values = np.empty((len(order), len(names)), dtype=row.dtype)
        elif list(row.index) != names:
            raise ValueError(
                f"'{dataset}' partition '{scan}' has other features than '{order[0]}' "
                f"({len(row)} vs {len(names)}); run its feature pipeline again."
            )
        values[i] = row.to_numpy()
    if values is None:
        return np.empty((0, 0)), []
    return values, names
