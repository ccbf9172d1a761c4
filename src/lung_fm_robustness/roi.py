"""Image/mask regions for PyRadiomics: the nodule's bounding box plus a physical margin.

Cropping keeps every voxel PyRadiomics reads (its own crop is the mask's bounding box plus
``padDistance`` voxels) while it makes each scan small enough to store and reload quickly.
"""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

GEOMETRY_TOLERANCE = 1e-3  # mm, and unitless for direction cosines


def check_same_grid(image: sitk.Image, mask: sitk.Image, scan: str) -> None:
    """A mask must share its image's voxel grid; the error names the scan and what differs."""
    checks = {
        "size": (image.GetSize(), mask.GetSize()),
        "spacing": (image.GetSpacing(), mask.GetSpacing()),
        "origin": (image.GetOrigin(), mask.GetOrigin()),
        "direction": (image.GetDirection(), mask.GetDirection()),
    }
    for name, (a, b) in checks.items():
        if not np.allclose(a, b, atol=GEOMETRY_TOLERANCE, rtol=0):
            raise ValueError(
                f"Scan '{scan}': the mask's {name} {tuple(np.round(b, 4))} differs from the "
                f"image's {tuple(np.round(a, 4))}; resample the mask onto the image grid."
            )


def nodule_region(image: sitk.Image, mask: sitk.Image, margin_mm: float, scan: str) -> tuple[sitk.Image, sitk.Image]:
    """Crop image and binary mask (label 1) to the mask's bounding box plus ``margin_mm``."""
    check_same_grid(image, mask, scan)
    labels = sitk.GetArrayViewFromImage(mask)
    inside = np.argwhere(labels == 1)
    if inside.size == 0:
        raise ValueError(f"Scan '{scan}': the nodule mask has no voxel with label 1.")
    margin = np.ceil(margin_mm / np.array(image.GetSpacing()[::-1])).astype(int)
    lower = np.maximum(inside.min(axis=0) - margin, 0)
    upper = np.minimum(inside.max(axis=0) + margin + 1, labels.shape)
    index, size = [int(v) for v in lower[::-1]], [int(v) for v in (upper - lower)[::-1]]
    region = sitk.Cast(mask == 1, sitk.sitkUInt8)
    return sitk.RegionOfInterest(image, size, index), sitk.RegionOfInterest(region, size, index)
