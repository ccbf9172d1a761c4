"""Nodule regions for PyRadiomics: nothing of the nodule lost, geometry kept, bad masks refused."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from lung_fm_robustness.roi import nodule_region


def test_region_keeps_every_mask_voxel_at_its_physical_place(ct_with_sphere):
    image, mask = ct_with_sphere
    region_image, region_mask = nodule_region(image, mask, margin_mm=5.0, scan="s")
    assert sitk.GetArrayViewFromImage(region_mask).sum() == sitk.GetArrayViewFromImage(mask).sum()
    # A voxel of the crop is the voxel of the original at the same physical point.
    for index in [(0, 0, 0), (5, 7, 3), tuple(s - 1 for s in region_image.GetSize())]:
        point = region_image.TransformIndexToPhysicalPoint(index)
        original = image.TransformPhysicalPointToIndex(point)
        assert region_image[index] == image[original]
    # margin: 5 mm -> ceil(5 / 0.7) = 8 voxels in-plane, ceil(5 / 2) = 3 slices, clamped at 0
    z = np.flatnonzero(sitk.GetArrayViewFromImage(mask).any(axis=(1, 2)))
    assert region_image.GetSize()[2] == min(z.max() + 4, image.GetSize()[2]) - max(z.min() - 3, 0)
    x = np.flatnonzero(sitk.GetArrayViewFromImage(mask).any(axis=(0, 1)))
    assert region_image.GetSize()[0] == (x.max() - x.min() + 1) + 16


def test_mask_on_another_grid_is_refused_with_what_differs(ct_with_sphere):
    image, mask = ct_with_sphere
    shifted = sitk.Image(mask)
    shifted.SetOrigin(tuple(np.add(mask.GetOrigin(), (0, 0, 1.0))))
    with pytest.raises(ValueError, match=r"Scan 'x': the mask's origin .* differs from the image's"):
        nodule_region(image, shifted, 5.0, "x")


def test_empty_mask_is_refused(ct_with_sphere):
    image, mask = ct_with_sphere
    with pytest.raises(ValueError, match="no voxel with label 1"):
        nodule_region(image, mask * 0, 5.0, "e")
