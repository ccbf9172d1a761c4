"""A manifest CSV as a catalog dataset, loaded lazily.

Loading gives a :class:`ManifestSource`, not the table: the ingestion pipeline reads
whichever manifest ``ingestion.source`` selects, and the other may not exist.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lung_fm_robustness.datasets.lazy_csv import LazyCsvDataset
from lung_fm_robustness.manifest import ManifestError, validate_manifest


@dataclass(frozen=True)
class ManifestSource:
    """Where a manifest lives; :meth:`read` validates it and resolves its paths."""

    filepath: Path

    def read(self) -> pd.DataFrame:
        """The validated manifest with image and mask paths resolved against its folder."""
        if not self.filepath.is_file():
            raise ManifestError(
                f"Manifest not found: '{self.filepath}'. Set ingestion.manifest_path to your "
                "manifest CSV, or ingestion.source to 'phantom' for the embedded phantom."
            )
        frame = validate_manifest(pd.read_csv(self.filepath), str(self.filepath))
        folder = self.filepath.parent
        for column in ("image_path", "mask_path"):
            frame[column] = [None if pd.isna(p) else str(folder / p) for p in frame[column]]
            present = frame[column].notna().to_numpy()
            absent = present & ~np.array([not pd.isna(p) and Path(p).is_file() for p in frame[column]])
            if absent.any():
                first = int(np.flatnonzero(absent)[0])
                raise ManifestError(
                    f"{self.filepath}: {int(absent.sum())} {column} file(s) not found, first on "
                    f"line {first + 2}: '{frame.loc[first, column]}'. Relative paths resolve "
                    "against the manifest's folder."
                )
        return frame


class ScanManifestDataset(LazyCsvDataset):
    """A manifest CSV: saves a table (atomically), loads a lazy :class:`ManifestSource`."""

    source_type = ManifestSource
