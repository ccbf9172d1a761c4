"""The phantom's ground truth for the downstream labels, loaded lazily: a run on user data has
no phantom, and only reads the truth when ``ingestion.source`` is phantom."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError


@dataclass(frozen=True)
class PhantomTruthSource:
    """Where the phantom's nodule_truth.parquet lives; :meth:`read` loads it."""

    filepath: Path

    def read(self) -> pd.DataFrame:
        if not self.filepath.is_file():
            raise FileNotFoundError(
                f"The phantom's ground truth '{self.filepath}' does not exist; the downstream tasks of the "
                "phantom need it. Fix: run `kedro run` (ingestion) with ingestion.source=phantom first."
            )
        return pd.read_parquet(self.filepath)


class PhantomTruthDataset(AbstractDataset[None, PhantomTruthSource]):
    """Read-only; loads a :class:`PhantomTruthSource` (the ingestion pipeline writes the file)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> PhantomTruthSource:
        return PhantomTruthSource(Path(self._filepath))

    def save(self, data: None) -> None:
        raise DatasetError("PhantomTruthDataset is read-only; the ingestion pipeline writes nodule_truth.")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
