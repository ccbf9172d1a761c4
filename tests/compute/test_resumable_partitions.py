"""The resumable partitioned dataset: an interrupted save resumes with only the missing
work, ending as an uninterrupted one; half-written and unrecorded files are never read;
changed inputs recompute, vanished keys are removed."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from lung_fm_robustness.compute import ComputeSettings, ScanWork, Task, fingerprint
from lung_fm_robustness.compute.executors import close_executors
from lung_fm_robustness.datasets import FeatureRowDataset, ResumablePartitionedDataset
from tests.compute.tasks import squares

N = 8


def _work(calls: Path, backend: str = "sequential", die_on: str | None = None, values=None) -> ScanWork:
    values = values or {f"s{i}": i for i in range(N)}
    tasks = {
        key: Task(squares, (key, value, str(calls), die_on), fingerprint("squares", key, value))
        for key, value in values.items()
    }
    return ScanWork("squares", tasks, ComputeSettings.from_params({"backend": backend, "n_workers": 2}))


def _dataset(path: Path) -> ResumablePartitionedDataset:
    return ResumablePartitionedDataset(str(path), "lung_fm_robustness.datasets.FeatureRowDataset", ".npz")


def _n_calls(calls: Path) -> int:
    return len(list(calls.iterdir()))


def _loaded(dataset) -> dict[str, list[float]]:
    return {key: load().tolist() for key, load in sorted(dataset.load().items())}


@pytest.fixture
def calls(tmp_path) -> Path:
    (tmp_path / "calls").mkdir()
    return tmp_path / "calls"


def test_uninterrupted_save_loads_every_partition(tmp_path, calls):
    dataset = _dataset(tmp_path / "rows")
    dataset.save(_work(calls))
    assert _loaded(dataset) == {f"s{i}": [float(i), float(i * i)] for i in range(N)}
    assert _n_calls(calls) == N
    dataset.save(_work(calls))  # nothing changed: nothing recomputed
    assert _n_calls(calls) == N


@pytest.mark.parametrize("backend", ["sequential", "processes"])
def test_killed_run_resumes_with_only_the_missing_scans(tmp_path, calls, backend):
    reference = _dataset(tmp_path / "reference")
    reference.save(_work(tmp_path / "calls"))
    calls_before = _n_calls(calls)

    dataset = _dataset(tmp_path / "rows")
    if backend == "sequential":  # a task raises part-way
        work = _work(calls, backend, values={f"s{i}": (i if i != 5 else "x") for i in range(N)})
        with pytest.raises(DatasetError, match="'s5' failed"):
            dataset.save(work)
    else:  # a worker process dies part-way, as under kill -9
        try:
            with pytest.raises(DatasetError, match="failed: BrokenProcessPool"):
                dataset.save(_work(calls, backend, die_on="s5"))
        finally:
            close_executors()
    done_before = len(dataset.load())
    assert 0 < done_before < N
    assert "s5" not in dataset.load()

    calls_at_restart = _n_calls(calls)
    try:
        dataset.save(_work(calls, backend))
    finally:
        close_executors()
    assert _n_calls(calls) - calls_at_restart == N - done_before  # only the missing scans
    assert _loaded(dataset) == _loaded(reference)
    assert calls_before == N


def test_half_written_and_unrecorded_files_are_never_read(tmp_path, calls, caplog):
    dataset = _dataset(tmp_path / "rows")
    dataset.save(_work(calls))
    root = tmp_path / "rows"
    (root / ".tmp-abc123.npz").write_bytes(b"half a file")  # a write killed before its rename
    (root / "s3.npz").unlink()  # a partition lost after its record was written
    (root / ".fingerprints" / "s6.json").unlink()  # killed between a partition and its record
    assert set(dataset.load()) == {f"s{i}" for i in range(N)} - {"s6"}
    with pytest.raises(DatasetError):
        FeatureRowDataset(str(root / ".tmp-abc123.npz")).load()  # the leftover is really unreadable
    caplog.set_level(logging.INFO)
    before = _n_calls(calls)
    dataset.save(_work(calls))
    assert _n_calls(calls) - before == 2  # s3 (its file is gone) and s6 (no record)
    assert "6 of 8 up to date, 2 to compute" in caplog.text
    assert "removed 1 temporary file(s) of an interrupted run" in caplog.text
    assert not (root / ".tmp-abc123.npz").exists()
    assert _loaded(dataset) == {f"s{i}": [float(i), float(i * i)] for i in range(N)}


def test_changed_input_recomputes_and_vanished_keys_are_removed(tmp_path, calls, caplog):
    dataset = _dataset(tmp_path / "rows")
    dataset.save(_work(calls))
    caplog.set_level(logging.INFO)
    values = {f"s{i}": i for i in range(N - 2)} | {"s2": 20}  # s2 changed, s6 and s7 gone
    before = _n_calls(calls)
    dataset.save(_work(calls, values=values))
    assert _n_calls(calls) - before == 1
    assert "5 of 6 up to date, 1 to compute (1 with changed inputs), 2 stale removed" in caplog.text
    assert _loaded(dataset)["s2"] == [20.0, 400.0]
    assert set(dataset.load()) == set(values)
    assert not (tmp_path / "rows" / "s7.npz").exists()


def test_wrong_input_and_unsaved_folder_are_explained(tmp_path):
    dataset = _dataset(tmp_path / "rows")
    with pytest.raises(DatasetError, match="does not exist: run the stage that saves it first"):
        dataset.load()
    with pytest.raises(DatasetError, match="saves a ScanWork"):
        dataset.save({"s0": lambda: pd.Series([1.0])})
    dataset.save(ScanWork("nothing", {}))
    assert dataset.load() == {}
