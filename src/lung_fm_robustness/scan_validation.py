"""Checks of every scan row before any heavy work, from headers, one slice per scan and, for
segmented masks, a small box around the seed.

Per scan: the image (and, for provided masks, the mask) can be read; the seed lies within
the voxel centres; the values are HU (the slice through the seed has values below 0: air is
about -1000 HU, a missing rescale gives none); for segmented masks, segmentation can start
from the seed (the same test on the small box around it). Per patient (or nodule): the reference
reconstruction and every condition of the study are present. Phantom scans pass trivially.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk
from kedro.io import DatasetError

from lung_fm_robustness.datasets.ct_volume import read_volume_header, read_volume_region
from lung_fm_robustness.ingestion_issues import KEEP, SKIP_PATIENT, SKIP_SCAN, Issue
from lung_fm_robustness.nodule_segmentation import PARAMS as SEGMENTATION_PARAMS
from lung_fm_robustness.nodule_segmentation import SegmentationSettings, seed_reaches_nodule, segmentation_box
from lung_fm_robustness.roi import check_same_grid
from lung_fm_robustness.voxel_grid import VoxelGrid, seed_outside_hint

Condition = tuple[str, float]


def condition_name(condition: Condition) -> str:
    """E.g. "medium 1.0 mm"."""
    return f"{condition[0]} {float(condition[1]):.1f} mm"


def _issue(row, rule: str, message: str, action: str = SKIP_SCAN) -> Issue:
    return Issue(rule, message, action, row.location, row.patient_id, row.scan_id)


def scan_issues(
    rows: pd.DataFrame, mask_mode: str, settings: SegmentationSettings, segmented: Sequence[bool]
) -> list[Issue]:
    """Problems of each row's image, seed, values and mask; ``segmented`` marks the rows whose
    image will be segmented (all with seed_segmentation, the reference with propagation)."""
    issues = []
    rows = rows.assign(segmented=list(segmented))
    for (path, uid), group in rows.groupby(["image_path", "series_uid"], sort=False, dropna=False):
        uid = None if pd.isna(uid) else uid
        try:
            header = read_volume_header(path, series_uid=uid)
        except DatasetError as err:
            issues += [_issue(row, "unreadable", str(err)) for row in group.itertuples(index=False)]
            continue
        grid = VoxelGrid.of(header)
        for row in group.itertuples(index=False):
            issues += _row_issues(row, path, uid, header, grid, mask_mode, settings)
    return issues


def _row_issues(row, path, uid, header, grid: VoxelGrid, mask_mode, settings) -> list[Issue]:
    issues = []
    seed = (row.coordX, row.coordY, row.coordZ)
    inside = grid.contains(seed)
    if not inside:
        issues.append(
            _issue(
                row,
                "seed_outside_volume",
                f"the seed ({seed[0]:g}, {seed[1]:g}, {seed[2]:g}) lies outside the volume, whose voxel "
                f"centres span {grid.describe_extent()}. {seed_outside_hint(grid, seed)}",
            )
        )
    k = int(np.clip(np.rint(grid.continuous_index(seed)[2]), 0, grid.size[2] - 1))
    try:
        plane = read_volume_region(path, (0, 0, k), (grid.size[0], grid.size[1], 1), series_uid=uid)
    except DatasetError as err:
        return [*issues, _issue(row, "unreadable", str(err))]
    values = sitk.GetArrayViewFromImage(plane)[0]
    if values.min() >= 0:
        issues.append(
            _issue(
                row,
                "hu_range",
                f"slice {k} has no value below 0 (minimum {float(values.min()):g}): the values look "
                "like raw scanner values, not HU (air is about -1000 HU). Check the rescale "
                "(RescaleIntercept (0028,1052), RescaleSlope (0028,1053)) or convert the image to HU.",
            )
        )
    elif inside and row.segmented and not _seed_reaches_nodule(row, path, uid, grid, seed, settings):
        issues.append(
            _issue(
                row,
                "segmentation_seed",
                f"no voxel at or above {settings.lower_hu:g} HU within {settings.seed_search_mm:g} mm of "
                "the seed (after smoothing): the seed is not on a solid nodule. Check the coordinates, lower "
                f"{SEGMENTATION_PARAMS}.lower_hu (about -750 for ground glass), or provide masks.",
            )
        )
    if mask_mode == "provided":
        issues += _mask_issues(row, header)
    return issues


def _seed_reaches_nodule(row, path, uid, grid: VoxelGrid, seed, settings: SegmentationSettings) -> bool:
    """The segmentation's own start test, on the small box it searches around the seed."""
    start, size = segmentation_box(grid, seed, settings.seed_search_mm, settings)
    region = read_volume_region(path, start, size, series_uid=uid)
    return seed_reaches_nodule(region, seed, settings.sphere_radius_mm(row.diameter_mm), settings)


def _mask_issues(row, header) -> list[Issue]:
    if row.mask_path is None or pd.isna(row.mask_path):
        return [
            _issue(
                row,
                "mask",
                "no mask_path, and ingestion.masks.mode is 'provided': add a mask_path column to the "
                "manifest, or set ingestion.masks.mode to seed_segmentation or reference_propagated.",
            )
        ]
    try:
        check_same_grid(header, read_volume_header(row.mask_path), row.scan_id)
    except (DatasetError, ValueError) as err:
        return [_issue(row, "mask", str(err))]
    return []


def completeness_issues(
    candidates: pd.DataFrame,
    usable: pd.Series,
    reference: Condition,
    unit_columns: list[str],
    allow_missing: bool,
) -> tuple[list[Issue], pd.Series]:
    """Units (patients, or patients' nodules) whose ``usable`` scans lack the reference or a
    condition of the study (any condition of a candidate); and which candidate rows stay.

    Without the reference a unit is skipped; without another condition it is skipped unless
    ``agreement.allow_missing_patients`` lets agreement leave it out of that condition only."""
    conditions = sorted(set(zip(candidates["kernel"], candidates["slice_thickness_mm"])) | {reference})
    keep = usable.copy()
    issues = []
    for unit, group in candidates.groupby(unit_columns, sort=False):
        unit = unit if isinstance(unit, tuple) else (unit,)
        name = "patient " + ", nodule ".join(map(str, unit))
        rows = group[usable[group.index]]
        have = set(zip(rows["kernel"], rows["slice_thickness_mm"]))
        first = (rows if len(rows) else group).iloc[0]
        if reference not in have:
            message = (
                f"{name} has no usable {condition_name(reference)} scan, the reference "
                "(agreement.reference); its other scans cannot be compared."
            )
            issues.append(Issue("missing_reference", message, SKIP_PATIENT, first.location, first.patient_id))
            keep[group.index] = False
            continue
        missing = [c for c in conditions if c not in have]
        if missing:
            listed = ", ".join(map(condition_name, missing))
            if allow_missing:
                message = (
                    f"{name} lacks {listed}; agreement leaves it out there "
                    "(agreement.allow_missing_patients: true)."
                )
            else:
                message = (
                    f"{name} lacks {listed}; agreement pairs every patient in every condition. Add the "
                    "scans, or set agreement.allow_missing_patients: true to keep the patient elsewhere."
                )
                keep[group.index] = False
            issues.append(
                Issue(
                    "missing_condition",
                    message,
                    KEEP if allow_missing else SKIP_PATIENT,
                    first.location,
                    first.patient_id,
                )
            )
    return issues, keep
