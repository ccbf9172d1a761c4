"""Preprocessing nodes: what each extractor reads, prepared once per scan.

Outputs are callables that the partitioned datasets evaluate one at a time while saving,
so a cohort of any size passes through bounded memory.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.fm.cube import SeedOutsideVolumeError, extract_fm_cube
from lung_fm_robustness.progress import ScanProgress
from lung_fm_robustness.roi import nodule_region

logger = logging.getLogger(__name__)


def cube_image(cube) -> sitk.Image:
    """A (z, y, x) cube as a 1 mm image, so ITK viewers show it the way the network sees it."""
    return sitk.GetImageFromArray(cube)


def prepare_fm_cubes(scans: ScanTable, fm: dict[str, Any]) -> dict[str, Callable[[], sitk.Image]]:
    """The 50 mm FMCIB input cube of every scan (``fm.resampling`` selects the sampling)."""
    progress = ScanProgress("fm cubes", len(scans.frame), logger)

    def cube(row) -> Callable[[], sitk.Image]:
        def compute() -> sitk.Image:
            seed = (row.coordX, row.coordY, row.coordZ)
            try:
                cube = extract_fm_cube(scans.image(row.scan_id), seed, mode=fm["resampling"])
            except SeedOutsideVolumeError as error:
                raise SeedOutsideVolumeError(
                    f"Scan '{row.scan_id}' ({row.image_path}): {error}"
                ) from error
            progress.step()
            return cube_image(cube)

        return compute

    return {row.scan_id: cube(row) for row in scans.frame.itertuples(index=False)}


def prepare_radiomics_regions(
    scans: ScanTable, preprocessing: dict[str, Any]
) -> dict[str, Callable[[], sitk.Image]]:
    """Each scan's nodule region as ``<scan_id>/image`` and ``<scan_id>/mask`` partitions."""
    progress = ScanProgress("radiomics regions", len(scans.frame), logger)
    margin = float(preprocessing["radiomics_margin_mm"])

    @lru_cache(maxsize=1)
    def region(scan: str) -> tuple[sitk.Image, sitk.Image]:
        pair = nodule_region(scans.image(scan), scans.mask(scan), margin, scan)
        progress.step()
        return pair

    partitions = {}
    for scan in scans.frame["scan_id"]:
        partitions[f"{scan}/image"] = lambda scan=scan: region(scan)[0]
        partitions[f"{scan}/mask"] = lambda scan=scan: region(scan)[1]
    return partitions
