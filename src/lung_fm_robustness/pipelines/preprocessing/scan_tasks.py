"""Per-scan preprocessing work, run by any compute backend: plain arguments in (the scan's
row), partitions out.

A worker rebuilds a one-row scan table from the row, so it reads exactly what the
sequential node would: the header and one box of voxels for the cube, the whole scan and
mask for the radiomics region.
"""
from __future__ import annotations

import os
from typing import Any

import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.datasets.ct_volume import (
    read_volume,
    read_volume_header,
    read_volume_region,
)
from lung_fm_robustness.fm.cube import (
    ScanGeometry,
    SeedOutsideVolumeError,
    plan_fm_cube,
)
from lung_fm_robustness.roi import nodule_region

ROW_COLUMNS = ("scan_id", "image_path", "series_uid", "mask_path", "coordX", "coordY", "coordZ")


def scan_row(frame: pd.DataFrame, scan: str) -> dict[str, Any]:
    """The plain fields a task needs of one scan (``series_uid`` None for image files)."""
    row = frame.loc[scan]
    plain = {c: (None if c not in row.index or _missing(row[c]) else row[c]) for c in ROW_COLUMNS}
    for c in ("coordX", "coordY", "coordZ"):
        plain[c] = float(plain[c])
    return plain


def with_absolute_paths(row: dict[str, Any]) -> dict[str, Any]:
    """The row with absolute image and mask paths, for a worker whose working folder may
    differ (a Dask worker on another machine, with the same shared storage)."""
    return {**row, **{c: os.path.abspath(row[c]) for c in ("image_path", "mask_path") if row[c] is not None}}


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def file_identity(path: str | None) -> list | None:
    """What says a scan file is unchanged: its path, size and modification time."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return [str(path), None, None]  # the task will report the missing file
    return [str(path), stat.st_size, stat.st_mtime_ns]


def read_fm_cube(row: dict[str, Any], mode: str):
    """One scan's cube from its header and the one box of voxels the cube samples."""
    uid = row["series_uid"] if isinstance(row["series_uid"], str) else None
    seed = (row["coordX"], row["coordY"], row["coordZ"])
    plan = plan_fm_cube(ScanGeometry.of(read_volume_header(row["image_path"], series_uid=uid)), seed, mode)
    if plan.box is None:
        return plan.sample(None)
    region = read_volume_region(row["image_path"], plan.box.start, plan.box.size, series_uid=uid)
    return plan.sample(sitk.GetArrayViewFromImage(region))


def fm_cube(row: dict[str, Any], mode: str) -> dict[str, sitk.Image]:
    """``{scan_id: cube}``: the 50 mm FMCIB cube as a 1 mm image, as the network sees it."""
    try:
        cube = read_fm_cube(row, mode)
    except SeedOutsideVolumeError as error:
        raise SeedOutsideVolumeError(f"Scan '{row['scan_id']}' ({row['image_path']}): {error}") from error
    return {row["scan_id"]: sitk.GetImageFromArray(cube)}


def radiomics_region(row: dict[str, Any], margin_mm: float) -> dict[str, sitk.Image]:
    """``{<scan_id>/image, <scan_id>/mask}``: the nodule region PyRadiomics reads."""
    if row["mask_path"] is None:
        raise ValueError(
            f"Scan '{row['scan_id']}' has no mask_path; PyRadiomics needs a nodule mask per scan "
            "(add a mask_path column to the manifest)."
        )
    uid = row["series_uid"] if isinstance(row["series_uid"], str) else None
    image = read_volume(row["image_path"], series_uid=uid)
    image, mask = nodule_region(image, read_volume(row["mask_path"]), margin_mm, row["scan_id"])
    return {f"{row['scan_id']}/image": image, f"{row['scan_id']}/mask": mask}
