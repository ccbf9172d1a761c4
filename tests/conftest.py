"""Shared test setup: no telemetry, and small CT-like volumes with known geometry."""
from __future__ import annotations

import os

import numpy as np
import pytest
import SimpleITK as sitk

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def ct_with_sphere():
    """An int16 CT (0.7 x 0.7 x 2.0 mm, flipped direction) with a 6 mm sphere and its mask."""
    rng = np.random.default_rng(7)
    shape = (30, 64, 64)  # z, y, x
    hu = rng.normal(-850, 30, shape)
    z, y, x = np.indices(shape)
    spacing = (0.7, 0.7, 2.0)
    centre = np.array([32, 30, 14])  # x, y, z voxel
    r = np.sqrt(((x - centre[0]) * spacing[0]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2 + ((z - centre[2]) * spacing[2]) ** 2)
    inside = r <= 6.0
    hu[inside] = rng.normal(30, 20, inside.sum())
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing(spacing)
    image.SetOrigin((-120.5, 80.25, -310.0))
    image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask
