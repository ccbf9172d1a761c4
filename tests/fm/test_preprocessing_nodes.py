"""The FM preprocessing nodes read each cube's box through the scan table, never a whole scan."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from lung_fm_robustness.datasets.ct_volume import read_volume
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.fm.cube import extract_fm_cube
from lung_fm_robustness.pipelines.preprocessing.nodes import (
    prepare_fm_cubes,
    prepare_fm_cubes_other_resampling,
)


class _NoWholeScans(ScanTable):
    """A scan table that refuses to read a whole image, and counts voxels read."""

    voxels_read = 0

    def image(self, scan_id):
        raise AssertionError("the cube node read a whole scan")

    def image_region(self, scan_id, start, size):
        self.voxels_read += int(np.prod(size))
        return super().image_region(scan_id, start, size)


@pytest.fixture
def scans(tmp_path) -> _NoWholeScans:
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
    return _NoWholeScans(pd.DataFrame(rows).set_index("scan_id", drop=False))


def _arrays(partitions) -> dict[str, np.ndarray]:
    return {scan: sitk.GetArrayFromImage(compute()) for scan, compute in partitions.items()}


@pytest.mark.parametrize(("mode", "other"), [("fmcib", "exact"), ("exact", "fmcib")])
def test_cubes_from_boxes_equal_cubes_from_whole_scans(scans, mode, other):
    fm = {"resampling": mode, "compare_resampling": True}
    for partitions, expected_mode in (
        (prepare_fm_cubes(scans, fm), mode),
        (prepare_fm_cubes_other_resampling(scans, fm), other),
    ):
        for scan, cube in _arrays(partitions).items():
            row = scans.frame.loc[scan]
            whole = read_volume(row.image_path)
            seed = (row.coordX, row.coordY, row.coordZ)
            np.testing.assert_array_equal(cube, extract_fm_cube(whole, seed, expected_mode))
    assert scans.voxels_read < 0.25 * 2 * 2 * 180 * 170 * 120  # boxes, not scans


def test_no_other_resampling_cubes_unless_asked(scans):
    assert prepare_fm_cubes_other_resampling(scans, {"resampling": "fmcib", "compare_resampling": False}) == {}
    assert prepare_fm_cubes_other_resampling(scans, {"resampling": "fmcib"}) == {}
    assert scans.voxels_read == 0
