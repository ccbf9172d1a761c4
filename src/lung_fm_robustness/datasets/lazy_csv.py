"""A CSV the user supplies (manifest, nodule list), loaded lazily.

Loading gives a source object whose ``read()`` validates the table, not the table itself:
the ingestion pipeline reads only the input that ``ingestion.source`` selects, and the
others may not exist.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import pandas as pd
from kedro.io import AbstractDataset

from lung_fm_robustness.datasets.atomic import atomic_path


class LazyCsvDataset(AbstractDataset[pd.DataFrame, Any]):
    """Saves a table (atomically); loads ``source_type(path)``, read and validated on demand."""

    source_type: ClassVar[type]

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        return self.source_type(Path(self._filepath))

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self._filepath, ".csv") as tmp:
            data.to_csv(tmp, index=False)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
