"""Preprocessing nodes: what each extractor reads, prepared once per scan.

Outputs are per-scan work (``ScanWork``) that the resumable partitioned datasets compute
through the executor of ``params:compute`` while saving, a bounded number of scans at a
time, skipping scans whose inputs have not changed since their partition was written.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import SimpleITK as sitk
from matplotlib.figure import Figure

from lung_fm_robustness.compute import ComputeSettings, ScanWork, Task, fingerprint
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import require_partitions
from lung_fm_robustness.fm.cube import other_resampling
from lung_fm_robustness.fm.cube_montage import cube_montage_figure
from lung_fm_robustness.fm.resampling_comparison import compare_resampling_enabled
from lung_fm_robustness.pipelines.preprocessing.scan_tasks import (
    file_identity,
    fm_cube,
    radiomics_region,
    scan_row,
    with_absolute_paths,
)

logger = logging.getLogger(__name__)


def _fm_cube_work(scans: ScanTable, mode: str, stage: str, compute: dict[str, Any]) -> ScanWork:
    """One task per scan: its cube in ``mode``, fingerprinted by the row and the image file."""
    frame = scans.frame
    tasks = {}
    for scan in frame["scan_id"]:
        row = scan_row(frame, scan)
        identity = fingerprint("fm_cube", mode, row, file_identity(row["image_path"]))
        tasks[scan] = Task(fm_cube, (with_absolute_paths(row), mode), identity)
    return ScanWork(stage, tasks, ComputeSettings.from_params(compute))


def prepare_fm_cubes(scans: ScanTable, fm: dict[str, Any], compute: dict[str, Any]) -> ScanWork:
    """The 50 mm FMCIB input cube of every scan (``fm.resampling`` selects the sampling)."""
    return _fm_cube_work(scans, fm["resampling"], "fm cubes", compute)


def prepare_fm_cubes_other_resampling(
    scans: ScanTable, fm: dict[str, Any], compute: dict[str, Any]
) -> ScanWork:
    """With ``fm.compare_resampling``, every cube again in the other resampling mode; no
    cubes otherwise."""
    if not compare_resampling_enabled(fm):
        return ScanWork("fm cubes (other resampling)", {}, ComputeSettings.from_params(compute))
    mode = other_resampling(fm["resampling"])
    return _fm_cube_work(scans, mode, f"fm cubes (resampling: {mode})", compute)


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
    scans: ScanTable, preprocessing: dict[str, Any], compute: dict[str, Any]
) -> ScanWork:
    """Each scan's nodule region as ``<scan_id>/image`` and ``<scan_id>/mask`` partitions."""
    margin = float(preprocessing["radiomics_margin_mm"])
    frame = scans.frame
    tasks = {}
    for scan in frame["scan_id"]:
        row = scan_row(frame, scan)
        identity = fingerprint(
            "radiomics_region", margin, row, file_identity(row["image_path"]), file_identity(row["mask_path"])
        )
        tasks[scan] = Task(radiomics_region, (with_absolute_paths(row), margin), identity)
    return ScanWork("radiomics regions", tasks, ComputeSettings.from_params(compute))
