"""The FM preprocessing tasks read each cube's box, never a whole scan; their fingerprints follow
the scan file and the resampling mode."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from lung_fm_robustness.datasets.ct_volume import read_volume, read_volume_region
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.fm.cube import extract_fm_cube
from lung_fm_robustness.pipelines.preprocessing import scan_tasks
from lung_fm_robustness.pipelines.preprocessing.nodes import (
    prepare_fm_cubes,
    prepare_fm_cubes_other_resampling,
)


@pytest.fixture
def voxels_read(monkeypatch) -> list[int]:
    """Voxels the cube tasks read; reading a whole scan fails the test."""
    counted = [0]

    def region(path, start, size, series_uid=None):
        counted[0] += int(np.prod(size))
        return read_volume_region(path, start, size, series_uid)

    def whole(*_, **__):
        raise AssertionError("the cube task read a whole scan")

    monkeypatch.setattr(scan_tasks, "read_volume_region", region)
    monkeypatch.setattr(scan_tasks, "read_volume", whole)
    return counted


@pytest.fixture
def scans(tmp_path) -> ScanTable:
    """Two 0.7 x 0.7 x 1.0 mm scans of 180 x 170 x 120 voxels, seeds near the middle and a face."""
    rng = np.random.default_rng(3)
    rows = []
    for scan, relative in (("A", (0.5, 0.4, 0.55)), ("B", (0.9, 0.5, 0.02))):
        image = sitk.GetImageFromArray(rng.integers(-1000, 400, (120, 170, 180), dtype=np.int16))
        image.SetSpacing((0.7, 0.7, 1.0))
        image.SetOrigin((-60.0, 15.5, -230.0))
        image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
        path = tmp_path / f"{scan}.nii.gz"
        sitk.WriteImage(image, str(path))
        seed = image.TransformContinuousIndexToPhysicalPoint([r * (n - 1) for r, n in zip(relative, image.GetSize())])
        rows.append({"scan_id": scan, "image_path": str(path), "coordX": seed[0], "coordY": seed[1], "coordZ": seed[2]})
    return ScanTable(pd.DataFrame(rows).set_index("scan_id", drop=False))


def _arrays(work) -> dict[str, np.ndarray]:
    """Each task run here, as a worker would: its partitions as arrays."""
    arrays = {}
    for task in work.tasks.values():
        arrays.update({scan: sitk.GetArrayFromImage(image) for scan, image in task.fn(*task.args).items()})
    return arrays


@pytest.mark.parametrize(("mode", "other"), [("fmcib", "exact"), ("exact", "fmcib")])
def test_cubes_from_boxes_equal_cubes_from_whole_scans(scans, voxels_read, mode, other):
    fm = {"resampling": mode, "compare_resampling": True}
    for partitions, expected_mode in (
        (prepare_fm_cubes(scans, fm, {}), mode),
        (prepare_fm_cubes_other_resampling(scans, fm, {}), other),
    ):
        assert list(partitions.tasks) == ["A", "B"]
        for scan, cube in _arrays(partitions).items():
            row = scans.frame.loc[scan]
            whole = read_volume(row.image_path)
            seed = (row.coordX, row.coordY, row.coordZ)
            np.testing.assert_array_equal(cube, extract_fm_cube(whole, seed, expected_mode))
    assert 0 < voxels_read[0] < 0.25 * 2 * 2 * 180 * 170 * 120  # boxes, not scans


def test_no_other_resampling_cubes_unless_asked(scans):
    assert prepare_fm_cubes_other_resampling(scans, {"resampling": "fmcib", "compare_resampling": False}, {}).tasks == {}
    assert prepare_fm_cubes_other_resampling(scans, {"resampling": "fmcib"}, {}).tasks == {}


def test_a_changed_scan_file_changes_only_its_fingerprint(scans):
    fm = {"resampling": "fmcib"}
    before = {k: t.fingerprint for k, t in prepare_fm_cubes(scans, fm, {}).tasks.items()}
    path = scans.frame.loc["B", "image_path"]
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 10**9))  # rewritten a second later
    after = {k: t.fingerprint for k, t in prepare_fm_cubes(scans, fm, {}).tasks.items()}
    assert after["A"] == before["A"] and after["B"] != before["B"]
    exact = prepare_fm_cubes(scans, {"resampling": "exact"}, {}).tasks
    assert exact["A"].fingerprint != after["A"]
