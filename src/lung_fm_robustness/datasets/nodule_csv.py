"""The nodule list of a DICOM study (a CSV) as a catalog dataset, read lazily.

Loading gives a :class:`NoduleCsvSource`: the file is read and validated only when
``ingestion.source`` is ``dicom``, and need not exist otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from lung_fm_robustness.datasets.atomic import atomic_path
from lung_fm_robustness.manifest import ManifestError
from lung_fm_robustness.nodule_coordinates import validate_nodules


@dataclass(frozen=True)
class NoduleCsvSource:
    """Where the nodule list lives; :meth:`read` validates it."""

    filepath: Path

    def read(self) -> pd.DataFrame:
        """The validated nodule list (see :func:`validate_nodules`)."""
        if not self.filepath.is_file():
            raise ManifestError(
                f"Nodule list not found: '{self.filepath}'. Set ingestion.nodules_csv to a CSV "
                "with patient_id, coordX, coordY, coordZ (LPS mm) and optionally nodule_id, diameter_mm."
            )
        return validate_nodules(pd.read_csv(self.filepath), str(self.filepath))


class NoduleCsvDataset(AbstractDataset[pd.DataFrame, NoduleCsvSource]):
    """A nodule-list CSV: saves a table (atomically), loads a lazy :class:`NoduleCsvSource`."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> NoduleCsvSource:
        return NoduleCsvSource(Path(self._filepath))

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath, ".csv") as tmp:
            data.to_csv(tmp, index=False)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
