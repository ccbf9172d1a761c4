"""A folder of DICOM series as a catalog dataset, read lazily.

Loading gives a :class:`DicomFolder`, not the series: the ingestion pipeline walks the folder
only when ``ingestion.source`` is ``dicom``, and the folder need not exist otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from lung_fm_robustness.dicom.discovery import SeriesInventory, discover_series


@dataclass(frozen=True)
class DicomFolder:
    """Where the DICOM series live; :meth:`inventory` walks the folder."""

    path: Path

    def inventory(self) -> SeriesInventory:
        """Every series under the folder (recursively) and the DICOM files GDCM cannot parse."""
        return discover_series(self.path)


class DicomFolderDataset(AbstractDataset[None, DicomFolder]):
    """A read-only folder of DICOM series (any depth, any number of series per folder)."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = PurePosixPath(path)
        self.metadata = metadata

    def load(self) -> DicomFolder:
        return DicomFolder(Path(self._path))

    def save(self, data: None) -> None:
        raise DatasetError(f"DicomFolderDataset('{self._path}') is read-only: the study never writes DICOM.")

    def _exists(self) -> bool:
        return Path(self._path).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
