"""Negative controls: voxels shuffled inside the mask only, reproducibly; the mask carried onto
the FM cube grid lands where the nodule is; the volume baseline measures the mask."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.downstream.negative_controls import (
    cube_mask,
    scan_rng,
    shuffle_inside_mask,
    shuffled_region,
)
from lung_fm_robustness.downstream.volume import mask_volume_mm3


def test_shuffle_permutes_inside_the_mask_only_and_is_seeded_per_scan():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 7, 8))
    mask = np.zeros(values.shape, dtype=np.uint8)
    mask[1:5, 2:6, 3:7] = 1
    out = shuffle_inside_mask(values, mask, scan_rng(0, "scan_a"))
    inside = mask == 1
    np.testing.assert_array_equal(out[~inside], values[~inside])
    np.testing.assert_array_equal(np.sort(out[inside]), np.sort(values[inside]))
    assert not np.array_equal(out[inside], values[inside])
    again = shuffle_inside_mask(values, mask, scan_rng(0, "scan_a"))
    np.testing.assert_array_equal(out, again)
    other = shuffle_inside_mask(values, mask, scan_rng(0, "scan_b"))
    assert not np.array_equal(out, other)
    with pytest.raises(ValueError, match="image and mask shapes differ"):
        shuffle_inside_mask(values, mask[:-1], scan_rng(0, "scan_a"))


def test_shuffled_region_keeps_geometry_and_histogram():
    image = sitk.GetImageFromArray(np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6))
    image.SetSpacing((0.7, 0.7, 2.0))
    image.SetOrigin((-10.0, 5.0, 30.0))
    mask_array = np.zeros((4, 5, 6), dtype=np.uint8)
    mask_array[1:3, 1:4, 2:5] = 1
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    out = shuffled_region(image, mask, scan_rng(1, "s"))
    assert out.GetSpacing() == image.GetSpacing() and out.GetOrigin() == image.GetOrigin()
    a, b = sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(image)
    np.testing.assert_array_equal(np.sort(a[mask_array == 1]), np.sort(b[mask_array == 1]))
    np.testing.assert_array_equal(a[mask_array == 0], b[mask_array == 0])


def test_mask_volume_is_voxel_count_times_voxel_volume():
    mask = sitk.GetImageFromArray(np.pad(np.ones((3, 4, 5), dtype=np.uint8), 2))
    mask.SetSpacing((0.5, 0.8, 2.0))
    assert mask_volume_mm3(mask) == pytest.approx(60 * 0.5 * 0.8 * 2.0)


def test_the_mask_carried_onto_the_cube_grid_is_the_nodule_sphere_at_the_cube_centre(tmp_path):
    size, spacing, origin = (90, 90, 40), (0.7, 0.7, 1.5), (-30.0, -40.0, -25.0)
    centre = np.array([1.3, -7.9, 4.6])  # LPS mm, off the voxel lattice
    radius = 6.0
    z, y, x = np.meshgrid(*[origin[a] + spacing[a] * np.arange(size[a]) for a in (2, 1, 0)], indexing="ij")
    inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2
    image = sitk.GetImageFromArray(np.where(inside, 40, -800).astype(np.int16))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    for volume in (image, mask):
        volume.SetSpacing(spacing)
        volume.SetOrigin(origin)
    sitk.WriteImage(image, str(tmp_path / "image.mha"))
    sitk.WriteImage(mask, str(tmp_path / "mask.mha"))
    scans = ScanTable(pd.DataFrame(
        {"scan_id": ["s"], "image_path": [str(tmp_path / "image.mha")], "mask_path": [str(tmp_path / "mask.mha")]}
    ).set_index("scan_id", drop=False))
    cube = cube_mask(scans, "s", tuple(centre), "exact")
    assert cube.shape == (50, 50, 50)
    assert cube.sum() == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.06)  # 1 mm^3 voxels
    centroid = np.array(np.nonzero(cube)).mean(axis=1)
    np.testing.assert_allclose(centroid, [25, 25, 25], atol=1.0)
