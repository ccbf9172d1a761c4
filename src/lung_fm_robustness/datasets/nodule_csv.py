"""The nodule list of a DICOM study (a CSV) as a catalog dataset, read lazily.

Loading gives a :class:`NoduleCsvSource`: the file is read and validated only when
``ingestion.source`` is ``dicom``, and need not exist otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lung_fm_robustness.datasets.lazy_csv import LazyCsvDataset
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


class NoduleCsvDataset(LazyCsvDataset):
    """A nodule-list CSV: saves a table (atomically), loads a lazy :class:`NoduleCsvSource`."""

    source_type = NoduleCsvSource
