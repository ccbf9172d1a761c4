"""READII-style negative controls: the same nodule with its voxels shuffled inside its mask.

Shuffling keeps the nodule's intensity histogram, size and position and destroys its texture
and shape inside the mask; features that still predict a label from shuffled nodules are
reading something other than the nodule's structure. Each scan is shuffled with its own
seeded generator (seed and scan_id), one scan in memory at a time.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.datasets.ct_volume import read_volume_region
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.fm.cube import ScanGeometry, plan_fm_cube

MASK_THRESHOLD = 0.5  # a cube voxel is nodule when the interpolated mask is at least this


def scan_rng(seed: int, scan_id: str) -> np.random.Generator:
    """A generator for one scan, the same in every run and independent of scan order."""
    return np.random.default_rng([int(seed), zlib.crc32(scan_id.encode("utf-8"))])


def shuffle_inside_mask(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``values`` whose voxels inside ``mask`` (non-zero) are randomly permuted."""
    if values.shape != mask.shape:
        raise ValueError(f"image and mask shapes differ: {values.shape} vs {mask.shape}")
    inside = np.asarray(mask) != 0
    out = np.array(values, copy=True)
    out[inside] = rng.permutation(out[inside])
    return out


def cube_mask(scans: ScanTable, scan_id: str, seed_lps: tuple[float, float, float], mode: str) -> np.ndarray:
    """The scan's nodule mask carried onto its FMCIB cube grid: the mask sampled exactly as the
    cube samples the image (same plan, trilinear), then thresholded at ``MASK_THRESHOLD``."""
    plan = plan_fm_cube(ScanGeometry.of(scans.image_header(scan_id)), seed_lps, mode)
    if plan.box is None:
        return np.zeros((50, 50, 50), dtype=bool)
    mask_path = scans.frame.loc[scan_id, "mask_path"]
    if mask_path is None or pd.isna(mask_path):
        raise ValueError(
            f"Scan '{scan_id}' has no mask_path; the negative control shuffles voxels inside the nodule mask. "
            "Fix: provide masks (ingestion.masks.mode) or set downstream.negative_control: false."
        )
    # Only the box the cube samples is read (the mask lies on the image grid).
    mask = sitk.GetArrayFromImage(read_volume_region(mask_path, plan.box.start, plan.box.size)) != 0
    # plan.sample maps HU to (HU + 1024) / 3072; feed the mask so that it maps to 0 / 1.
    as_hu = mask.astype(np.float32) * np.float32(3072.0) - np.float32(1024.0)
    return plan.sample(as_hu) >= MASK_THRESHOLD


def shuffled_cubes(
    scans: ScanTable, fm_cubes: dict[str, Callable[[], sitk.Image]], mode: str, seed: int,
    on_scan: Callable[[], None] = lambda: None,
) -> Iterator[np.ndarray]:
    """Every scan's FM cube (scan table order) with its voxels shuffled inside the nodule mask."""
    for row in scans.frame.itertuples(index=False):
        cube = sitk.GetArrayFromImage(fm_cubes[row.scan_id]())
        mask = cube_mask(scans, row.scan_id, (row.coordX, row.coordY, row.coordZ), mode)
        yield shuffle_inside_mask(cube, mask, scan_rng(seed, row.scan_id))
        on_scan()


def shuffled_region(image: sitk.Image, mask: sitk.Image, rng: np.random.Generator) -> sitk.Image:
    """A radiomics region image with its voxels shuffled inside the region's mask (geometry
    and pixel type kept)."""
    values = shuffle_inside_mask(sitk.GetArrayFromImage(image), sitk.GetArrayViewFromImage(mask), rng)
    out = sitk.GetImageFromArray(values)
    out.CopyInformation(image)
    return out

