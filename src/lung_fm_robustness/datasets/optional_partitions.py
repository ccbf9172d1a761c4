"""A partitioned dataset that may hold no partitions: the output of a study option that is
off (e.g. ``fm.compare_resampling: false``) must still exist for the stages downstream."""
from __future__ import annotations

from typing import Any

from kedro.io import DatasetError
from kedro_datasets.partitions import PartitionedDataset


class OptionalPartitionedDataset(PartitionedDataset):
    """``PartitionedDataset`` whose empty folder is a valid, empty result.

    Saving ``{}`` leaves an empty folder, which loads as ``{}`` (the base class raises on
    no partitions and reports the folder as missing). Loading a folder never saved is
    still an error.
    """

    def load(self) -> dict[str, Any]:
        if not self._exists():
            raise DatasetError(f"'{self._path}' does not exist: nothing was saved to it.")
        if not self._list_partitions():
            return {}
        return super().load()

    def save(self, data: dict[str, Any]) -> None:
        super().save(data)
        self._filesystem.makedirs(self._normalized_path, exist_ok=True)

    def _exists(self) -> bool:
        self._invalidate_caches()
        return bool(self._filesystem.isdir(self._normalized_path))
