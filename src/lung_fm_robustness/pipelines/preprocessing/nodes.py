"""Preprocessing nodes: what each extractor reads, prepared once per scan.

Outputs are callables that the partitioned datasets evaluate one at a time while saving,
so a cohort of any size passes through bounded memory.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import SimpleITK as sitk
from matplotlib.figure import Figure

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import require_partitions
from lung_fm_robustness.fm.cube import (
    ScanGeometry,
    SeedOutsideVolumeError,
    other_resampling,
    plan_fm_cube,
)
from lung_fm_robustness.fm.cube_montage import cube_montage_figure
from lung_fm_robustness.fm.resampling_comparison import compare_resampling_enabled
from lung_fm_robustness.progress import ScanProgress
from lung_fm_robustness.roi import nodule_region

logger = logging.getLogger(__name__)


def cube_image(cube) -> sitk.Image:
    """A (z, y, x) cube as a 1 mm image, so ITK viewers show it the way the network sees it."""
    return sitk.GetImageFromArray(cube)


def read_fm_cube(scans: ScanTable, scan_id: str, seed, mode: str) -> np.ndarray:
    """One scan's cube from its header and the one box of voxels the cube samples."""
    plan = plan_fm_cube(ScanGeometry.of(scans.image_header(scan_id)), seed, mode)
    if plan.box is None:
        return plan.sample(None)
    region = scans.image_region(scan_id, plan.box.start, plan.box.size)
    return plan.sample(sitk.GetArrayViewFromImage(region))


def _fm_cubes(scans: ScanTable, mode: str, stage: str) -> dict[str, Callable[[], sitk.Image]]:
    """Every scan's cube in ``mode``, computed when its partition is saved."""
    progress = ScanProgress(stage, len(scans.frame), logger)

    def cube(row) -> Callable[[], sitk.Image]:
        def compute() -> sitk.Image:
            seed = (row.coordX, row.coordY, row.coordZ)
            try:
                cube = read_fm_cube(scans, row.scan_id, seed, mode)
            except SeedOutsideVolumeError as error:
                raise SeedOutsideVolumeError(
                    f"Scan '{row.scan_id}' ({row.image_path}): {error}"
                ) from error
            progress.step()
            return cube_image(cube)

        return compute

    return {row.scan_id: cube(row) for row in scans.frame.itertuples(index=False)}


def prepare_fm_cubes(scans: ScanTable, fm: dict[str, Any]) -> dict[str, Callable[[], sitk.Image]]:
    """The 50 mm FMCIB input cube of every scan (``fm.resampling`` selects the sampling)."""
    return _fm_cubes(scans, fm["resampling"], "fm cubes")


def prepare_fm_cubes_other_resampling(
    scans: ScanTable, fm: dict[str, Any]
) -> dict[str, Callable[[], sitk.Image]]:
    """With ``fm.compare_resampling``, every cube again in the other resampling mode; no
    cubes otherwise."""
    if not compare_resampling_enabled(fm):
        return {}
    mode = other_resampling(fm["resampling"])
    return _fm_cubes(scans, mode, f"fm cubes (resampling: {mode})")


def plot_fm_cube_montage(
    scans: ScanTable, fm_cubes: dict[str, Callable[[], sitk.Image]], fm: dict[str, Any]
) -> Figure:
    """Mid-slices of the first ``fm.montage.n_patients`` patients' cubes under every
    condition, to check by eye that each crop holds its nodule."""
    n_patients = fm["montage"]["n_patients"]
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise ValueError(f"fm.montage.n_patients must be a positive integer, got {n_patients!r}")
    frame = scans.frame
    patients = list(dict.fromkeys(frame["patient_id"]))[:n_patients]
    rows = frame[frame["patient_id"].isin(patients)]
    require_partitions(fm_cubes, rows["scan_id"], "fm_cubes")
    conditions = list(dict.fromkeys(map(_condition, frame["kernel"], frame["slice_thickness_mm"])))
    cubes = {
        (row.patient_id, _condition(row.kernel, row.slice_thickness_mm)): sitk.GetArrayFromImage(
            fm_cubes[row.scan_id]()
        )
        for row in rows.itertuples(index=False)
    }
    title = f"FMCIB input cubes (resampling: {fm['resampling']})"
    return cube_montage_figure(cubes, patients, conditions, title)


def _condition(kernel: str, thickness: float) -> str:
    return f"{kernel} {float(thickness):.1f} mm"


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
