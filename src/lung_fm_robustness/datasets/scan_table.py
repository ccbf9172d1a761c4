"""The study's scan table, with lazy access to each scan's image and mask.

Downstream pipelines need pixels of scans that may live anywhere (the phantom folder or
the user's archive); they get them through this dataset rather than reading paths, whole
(``image``) or header first and then only the box of voxels they need (``image_header``,
``image_region``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import SimpleITK as sitk
from kedro.io import AbstractDataset

from lung_fm_robustness.datasets.atomic import atomic_path
from lung_fm_robustness.datasets.ct_volume import (
    read_volume,
    read_volume_header,
    read_volume_region,
)


class ScanTable:
    """The scan rows (one per reconstruction, indexed by ``scan_id``) and their volumes."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def image(self, scan_id: str) -> sitk.Image:
        return read_volume(self.frame.loc[scan_id, "image_path"], series_uid=self._series_uid(scan_id))

    def image_header(self, scan_id: str) -> sitk.ImageFileReader:
        """The image's header (size, spacing, origin, direction), no voxels read."""
        return read_volume_header(self.frame.loc[scan_id, "image_path"], series_uid=self._series_uid(scan_id))

    def image_region(
        self, scan_id: str, start: Sequence[int], size: Sequence[int]
    ) -> sitk.Image:
        """The image's voxels ``[start, start + size)`` (x, y, z indices) only."""
        path = self.frame.loc[scan_id, "image_path"]
        return read_volume_region(path, start, size, series_uid=self._series_uid(scan_id))

    def _series_uid(self, scan_id: str) -> str | None:
        """The DICOM series of a scan whose image_path is a folder; None for image files."""
        if "series_uid" not in self.frame.columns:
            return None
        uid = self.frame.loc[scan_id, "series_uid"]
        return uid if isinstance(uid, str) else None

    def mask(self, scan_id: str) -> sitk.Image:
        path = self.frame.loc[scan_id, "mask_path"]
        if path is None or pd.isna(path):
            raise ValueError(
                f"Scan '{scan_id}' has no mask_path; PyRadiomics needs a nodule mask per scan "
                "(add a mask_path column to the manifest)."
            )
        return read_volume(path)


class ScanTableDataset(AbstractDataset[pd.DataFrame, ScanTable]):
    """Parquet file of scans; loads as a :class:`ScanTable`."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> ScanTable:
        return ScanTable(pd.read_parquet(self._filepath).set_index("scan_id", drop=False))

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath, ".parquet") as tmp:
            data.to_parquet(tmp, index=False)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
