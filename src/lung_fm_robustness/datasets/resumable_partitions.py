"""A partitioned dataset that computes its partitions itself, resumably, through an executor.

Saving a :class:`~lung_fm_robustness.compute.ScanWork` (tasks by key, each with the
fingerprint of its inputs):

1. reads the fingerprint records in ``<path>/.fingerprints/<key>.json``;
2. removes the partitions of records that are stale (key no longer in the work, another
   fingerprint, or a partition file gone), and says how many in the log;
3. runs only the tasks without a matching record, through the executor of
   ``params:compute``; each worker writes its partitions atomically, then their record
   (atomically too), so a run killed at any point leaves only complete partitions with a
   record, complete partitions without one (recomputed), or temporary files (never read).

Loading lists the partitions of the records only, never the folder, so a temporary or
unrecorded file is never read back (temporary files left by a killed run are deleted at the
next save); each value is a picklable loader that also carries the
partition's fingerprint (what downstream tasks fingerprint as their input's identity).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from lung_fm_robustness.compute.bounded_map import bounded_map
from lung_fm_robustness.compute.executors import open_executor
from lung_fm_robustness.compute.work import ScanWork, call_with_threads
from lung_fm_robustness.datasets.atomic import atomic_path
from lung_fm_robustness.progress import ScanProgress

logger = logging.getLogger(__name__)

RECORDS = ".fingerprints"
TEMPORARY_PREFIX = ".tmp-"  # datasets.atomic's temporary files


@dataclass(frozen=True)
class PartitionStore:
    """Where and how partitions are written: picklable, so a worker can write its own."""

    root: str
    dataset: dict[str, Any]
    suffix: str

    def filepath(self, partition: str) -> str:
        return str(PurePosixPath(self.root) / f"{partition}{self.suffix}")

    def record_path(self, key: str) -> Path:
        return Path(self.root) / RECORDS / f"{key}.json"

    def open(self, partition: str) -> AbstractDataset:
        return AbstractDataset.from_config(partition, {**self.dataset, "filepath": self.filepath(partition)})

    def read_record(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.record_path(key).read_text())
        except (OSError, ValueError):
            return None

    def records(self) -> dict[str, dict[str, Any]]:
        folder = Path(self.root) / RECORDS
        if not folder.is_dir():
            return {}
        found = {}
        for path in sorted(folder.glob("*.json")):
            record = self.read_record(path.stem)
            if record is not None:
                found[path.stem] = record
        return found


@dataclass(frozen=True)
class PartitionLoader:
    """Loads one saved partition; ``fingerprint`` is that of the task that wrote it."""

    store: PartitionStore
    partition: str
    fingerprint: str

    def __call__(self) -> Any:
        return self.store.open(self.partition).load()


def compute_and_save(fn, args: tuple, threads: int, store: PartitionStore, key: str, fingerprint: str) -> list[str]:
    """Run one task (in a worker), write each partition atomically, then its record."""
    partitions = call_with_threads(fn, args, threads)
    for partition, value in partitions.items():
        store.open(partition).save(value)
    record = {"fingerprint": fingerprint, "partitions": sorted(partitions)}
    with atomic_path(store.record_path(key), ".json") as tmp:
        Path(tmp).write_text(json.dumps(record))
    return sorted(partitions)


class ResumablePartitionedDataset(AbstractDataset[ScanWork, dict[str, PartitionLoader]]):
    """Partitions computed by per-scan tasks, kept across runs while their inputs are unchanged.

    Example catalog entry::

        fm_cubes:
          type: lung_fm_robustness.datasets.ResumablePartitionedDataset
          path: data/03_primary/fm_cubes
          dataset: lung_fm_robustness.datasets.CTVolumeDataset
          filename_suffix: .mha
    """

    def __init__(
        self,
        path: str,
        dataset: str | dict[str, Any],
        filename_suffix: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        if "type" not in config:
            raise DatasetError(f"ResumablePartitionedDataset('{path}'): 'dataset' needs a 'type'.")
        self._path = path
        self._dataset = config
        self._suffix = filename_suffix
        self.metadata = metadata

    def _store(self) -> PartitionStore:
        # Absolute, so that workers (other processes or machines on shared storage) agree.
        return PartitionStore(str(Path(self._path).resolve()), self._dataset, self._suffix)

    def load(self) -> dict[str, PartitionLoader]:
        if not self._exists():
            raise DatasetError(f"'{self._path}' does not exist: run the stage that saves it first.")
        store = self._store()
        return {
            partition: PartitionLoader(store, partition, record["fingerprint"])
            for record in store.records().values()
            for partition in record["partitions"]
        }

    def save(self, data: ScanWork) -> None:
        if not isinstance(data, ScanWork):
            raise DatasetError(
                f"ResumablePartitionedDataset('{self._path}') saves a ScanWork (tasks by key), "
                f"got {type(data).__name__}."
            )
        store = self._store()
        Path(store.root, RECORDS).mkdir(parents=True, exist_ok=True)
        leftovers = [p for p in Path(store.root).rglob(f"{TEMPORARY_PREFIX}*") if p.is_file()]
        for path in leftovers:  # writes cut short by an earlier, interrupted run
            path.unlink()
        if leftovers:
            logger.info("%s: removed %d temporary file(s) of an interrupted run", data.stage, len(leftovers))
        records = store.records()
        stale = {k: r for k, r in records.items()
                 if k not in data.tasks or r.get("fingerprint") != data.tasks[k].fingerprint
                 or not all(Path(store.filepath(p)).is_file() for p in r.get("partitions", []))}
        for key, record in stale.items():
            for partition in record.get("partitions", []):
                Path(store.filepath(partition)).unlink(missing_ok=True)
            store.record_path(key).unlink(missing_ok=True)
        todo = {k: t for k, t in data.tasks.items() if k not in records or k in stale}
        n_removed = sum(k not in data.tasks for k in stale)
        logger.info(
            "%s: %d of %d up to date, %d to compute (%d with changed inputs), %d stale removed "
            "[backend: %s]", data.stage, len(data.tasks) - len(todo), len(data.tasks), len(todo),
            len(stale) - n_removed, n_removed, data.compute.backend,
        )
        if not todo:
            return
        progress = ScanProgress(data.stage, len(todo), logger, unit=data.unit)
        threads = data.compute.threads_per_worker
        items = ((key, (task.fn, task.args, threads, store, key, task.fingerprint))
                 for key, task in todo.items())
        start = time.perf_counter()
        with open_executor(data.compute) as executor:
            for _ in bounded_map(executor, compute_and_save, items, data.compute.in_flight):
                progress.step()
        logger.debug("%s: %.1f s", data.stage, time.perf_counter() - start)

    def _exists(self) -> bool:
        return Path(self._path, RECORDS).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "dataset": self._dataset, "filename_suffix": self._suffix}
