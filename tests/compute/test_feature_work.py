"""The FM and PyRadiomics work descriptions: fixed batches in scan-table order whatever the
backend, fingerprints that follow the inputs, and the per-scan rows stacked back into the
study's table with every scan accounted for."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lung_fm_robustness.datasets.feature_row import (
    FeatureRowDataset,
    stack_feature_rows,
)
from lung_fm_robustness.datasets.resumable_partitions import (
    PartitionLoader,
    PartitionStore,
)
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.pipelines.fm_features.nodes import (
    collect_fm_features,
    extract_fm_features,
)

SCANS = [f"P{i}_medium_1.0mm" for i in range(7)]


def _scans() -> ScanTable:
    frame = pd.DataFrame({"scan_id": SCANS, "patient_id": [s[:2] for s in SCANS], "nodule_id": None,
                          "kernel": "medium", "slice_thickness_mm": 1.0})
    return ScanTable(frame.set_index("scan_id", drop=False))


def _cubes(fingerprints: dict[str, str]) -> dict[str, PartitionLoader]:
    store = PartitionStore("/nowhere", {"type": "lung_fm_robustness.datasets.CTVolumeDataset"}, ".mha")
    return {scan: PartitionLoader(store, scan, fp) for scan, fp in fingerprints.items()}


FM = {"weights_path": None, "seed": 0, "resampling": "fmcib", "batch_size": 3, "num_threads": None}


@pytest.mark.parametrize("backend", ["sequential", "processes", "dask"])
def test_fm_batches_are_fixed_chunks_of_the_scan_table(backend):
    work, extractor = extract_fm_features(_scans(), _cubes({s: s for s in SCANS}), FM, {"backend": backend})
    batches = [[scan for scan, _ in task.args[0]] for task in work.tasks.values()]
    assert batches == [SCANS[0:3], SCANS[3:6], SCANS[6:7]]
    assert list(work.tasks) == ["batch-00000", "batch-00001", "batch-00002"]
    assert extractor["label"] == "resnet50-random-init" and extractor["resampling"] == "fmcib"
    assert {task.args[3] for task in work.tasks.values()} == {1}  # compute.threads_per_worker


def test_fm_fingerprints_follow_cubes_threads_and_network():
    base = extract_fm_features(_scans(), _cubes({s: s for s in SCANS}), FM, {})[0].tasks
    one_cube = extract_fm_features(_scans(), _cubes({s: s + ("x" if s == SCANS[4] else "") for s in SCANS}), FM, {})[0].tasks
    assert [base[k].fingerprint == one_cube[k].fingerprint for k in base] == [True, False, True]
    for change in ({"num_threads": 2}, {"seed": 1}):
        other = extract_fm_features(_scans(), _cubes({s: s for s in SCANS}), {**FM, **change}, {})[0].tasks
        assert all(base[k].fingerprint != other[k].fingerprint for k in base)


def test_missing_cube_is_named():
    with pytest.raises(ValueError, match=r"1 scan\(s\) have no partition in 'fm_cubes' \(first: P6_medium_1.0mm\)"):
        extract_fm_features(_scans(), _cubes({s: s for s in SCANS[:-1]}), FM, {})


def test_rows_stack_into_the_table_in_scan_order(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(SCANS), 4)).astype(np.float32)
    store = PartitionStore(str(tmp_path), {"type": "lung_fm_robustness.datasets.FeatureRowDataset"}, ".npz")
    rows = {}
    for scan, row in zip(reversed(SCANS), values[::-1]):  # saved in another order
        FeatureRowDataset(store.filepath(scan)).save(pd.Series(row, index=list("abcd")))
        rows[scan] = PartitionLoader(store, scan, "fp")
    table = collect_fm_features(_scans(), rows)
    assert list(table["scan_id"]) == SCANS
    np.testing.assert_array_equal(table[list("abcd")].to_numpy(), values)
    assert table["a"].dtype == np.float32
    del rows[SCANS[2]]
    with pytest.raises(ValueError, match=r"no partition in 'fm_feature_rows' \(first: P2_medium_1.0mm\)"):
        collect_fm_features(_scans(), rows)


def test_rows_with_other_features_are_an_error_naming_the_scan():
    rows = {"A": lambda: pd.Series([1.0, 2.0], index=["x", "y"]), "B": lambda: pd.Series([1.0], index=["x"])}
    with pytest.raises(ValueError, match="partition 'B' has other features than 'A'"):
        stack_feature_rows(rows, ["A", "B"], "radiomics_feature_rows")
