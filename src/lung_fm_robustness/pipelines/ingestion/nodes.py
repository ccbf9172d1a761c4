"""Ingestion nodes: simulate the phantom study, register and validate the scans of the chosen
source (phantom, manifest or DICOM folder), then make the nodule masks PyRadiomics reads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.compute import ComputeSettings, ScanWork, Task, fingerprint
from lung_fm_robustness.datasets.ct_volume import read_volume_header, read_volume_region
from lung_fm_robustness.datasets.dicom_folder import DicomFolder
from lung_fm_robustness.datasets.nodule_csv import NoduleCsvSource
from lung_fm_robustness.datasets.scan_manifest import ManifestSource
from lung_fm_robustness.dicom.conditions import dicom_scan_rows
from lung_fm_robustness.dicom.kernels import KernelClassifier
from lung_fm_robustness.ingestion_issues import (
    REPORTED_ONLY,
    SKIP_SCAN,
    IngestionError,
    check_on_error,
    describe_issues,
    issue_table,
    raise_on_issues,
)
from lung_fm_robustness.manifest import REQUIRED_COLUMNS, ManifestError, scan_id
from lung_fm_robustness.nodule_coordinates import select_nodules
from lung_fm_robustness.nodule_segmentation import (
    SegmentationError,
    SegmentationSettings,
    mask_on_grid,
    segment_nodule,
    segmentation_box,
)
from lung_fm_robustness.phantom import study as phantom
from lung_fm_robustness.pipelines.ingestion.scan_tasks import render_patient
from lung_fm_robustness.progress import ScanProgress
from lung_fm_robustness.scan_validation import (
    Condition,
    completeness_issues,
    condition_name,
    scan_issues,
)
from lung_fm_robustness.voxel_grid import VoxelGrid

logger = logging.getLogger(__name__)

SOURCES = ("phantom", "manifest", "dicom")
MASK_MODES = ("provided", "seed_segmentation", "reference_propagated")
MANIFEST_COLUMNS = (*REQUIRED_COLUMNS, "mask_path", "diameter_mm")
SCAN_COLUMNS = (
    "scan_id", "patient_id", "nodule_id", "kernel", "slice_thickness_mm", "image_path", "series_uid",
    "coordX", "coordY", "coordZ", "diameter_mm", "mask_path", "source", "manufacturer", "convolution_kernel",
)  # fmt: skip
ISSUES_REPORT = "data/08_reporting/ingestion_issues.csv"


def check_source(ingestion: dict[str, Any]) -> str:
    """The configured ``ingestion.source``; anything else is an error listing the choices."""
    source = ingestion.get("source")
    if source not in SOURCES:
        raise ValueError(f"ingestion.source must be one of {', '.join(SOURCES)}, got {source!r}.")
    return source


def check_mask_mode(ingestion: dict[str, Any]) -> str:
    """``ingestion.masks.mode``; 'provided' needs masks, which DICOM series do not bring."""
    mode = ingestion.get("masks", {}).get("mode", "provided")
    if mode not in MASK_MODES:
        raise ValueError(f"ingestion.masks.mode must be one of {', '.join(MASK_MODES)}, got {mode!r}.")
    if mode == "provided" and check_source(ingestion) == "dicom":
        raise ValueError(
            "ingestion.masks.mode 'provided' needs a mask per scan, and DICOM series bring none: "
            "set ingestion.masks.mode to seed_segmentation or reference_propagated."
        )
    return mode


def _reference(agreement: dict[str, Any]) -> Condition:
    reference = agreement["reference"]
    return str(reference["kernel"]), float(reference["slice_thickness_mm"])


def simulate_phantom_study(
    ingestion: dict[str, Any], compute: dict[str, Any]
) -> tuple[ScanWork, pd.DataFrame, pd.DataFrame]:
    """The embedded phantom: the work that renders its volumes and ground-truth masks (one
    task per patient, run by ``params:compute``'s executor while the resumable dataset
    saves), its manifest and nodule truth.

    With another ``ingestion.source`` nothing is simulated and the outputs are empty. The
    manifest gives each nodule's diameter (0.1 mm), as a nodule list would, for the seeded
    segmentation. A patient's fingerprint leaves out ``n_patients`` (a patient does not
    depend on it), so growing the cohort renders only the new patients.
    """
    settings = ComputeSettings.from_params(compute)
    if check_source(ingestion) != "phantom":
        logger.info("ingestion.source is %r: phantom simulation skipped.", ingestion["source"])
        return ScanWork("phantom", {}, settings), pd.DataFrame(columns=list(MANIFEST_COLUMNS)), pd.DataFrame()
    config = phantom.PhantomConfig.from_params(ingestion["phantom"])
    layout = ingestion["phantom_layout"]
    conditions = [(k, t) for k in config.kernels for t in config.slice_thicknesses_mm]
    specs = [phantom.draw_patient(config, i) for i in range(config.n_patients)]
    truth = pd.DataFrame([phantom.nodule_truth(config, spec) for spec in specs])
    patient_params = {k: v for k, v in ingestion["phantom"].items() if k != "n_patients"}
    tasks, rows = {}, []
    for i, spec in enumerate(specs):
        args = (dict(ingestion["phantom"]), i, dict(layout))
        tasks[spec.patient_id] = Task(render_patient, args, fingerprint("phantom", patient_params, i, layout))
        centre = phantom.nodule_centre_lps(spec)
        for kernel, thickness in conditions:
            key = scan_id(spec.patient_id, kernel, thickness)
            rows.append(
                {
                    "patient_id": spec.patient_id,
                    "kernel": kernel,
                    "slice_thickness_mm": thickness,
                    "image_path": f"{layout['images']}/{key}{layout['suffix']}",
                    "coordX": centre[0],
                    "coordY": centre[1],
                    "coordZ": centre[2],
                    "mask_path": f"{layout['masks']}/{key}{layout['suffix']}",
                    "diameter_mm": round(float(truth.loc[i, "diameter_mm"]), 1),
                }
            )
    work = ScanWork("phantom", tasks, settings, unit="patients")
    return work, pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)), truth


def manifest_scan_rows(manifest: ManifestSource) -> pd.DataFrame:
    """Candidate scan rows of a manifest (the user's or the phantom's), one per CSV row."""
    frame = manifest.read()
    given = frame["diameter_mm"] if "diameter_mm" in frame.columns else pd.Series(np.nan, index=frame.index)
    diameters = pd.to_numeric(given, errors="coerce")
    bad = (given.notna() & ~(diameters > 0)).to_numpy()
    if bad.any():
        raise ManifestError(
            f"{manifest.filepath}: 'diameter_mm' must be a positive number (mm) or empty; line "
            f"{int(np.flatnonzero(bad)[0]) + 2} holds {given[bad].iloc[0]!r}."
        )
    keys = frame[["patient_id", "kernel", "slice_thickness_mm"]].itertuples(index=False)
    return frame.assign(
        scan_id=[scan_id(*key) for key in keys],
        nodule_id=None,
        series_uid=None,
        diameter_mm=diameters,
        manufacturer=None,
        convolution_kernel=None,
        location=[f"{manifest.filepath} line {i + 2}" for i in range(len(frame))],
    )


def _unit_columns(ingestion: dict[str, Any]) -> list[str]:
    """What is paired across conditions: each patient, or each nodule with ``all``."""
    if check_source(ingestion) == "dicom" and ingestion.get("nodule_selection") == "all":
        return ["patient_id", "nodule_id"]
    return ["patient_id"]


def register_scans(
    phantom_manifest: ManifestSource,
    input_manifest: ManifestSource,
    dicom_folder: DicomFolder,
    nodule_list: NoduleCsvSource,
    ingestion: dict[str, Any],
    kernel_classes: dict[str, Any],
    agreement: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, dict[str, float]]]:
    """The validated scan rows of the selected source, the issues found, a summary and the
    MLflow metric ``ingestion.n_skipped`` (as kedro-mlflow's metrics dataset takes it).

    Reads headers and one slice per scan only; with ``ingestion.on_error: raise`` any issue
    stops here, before the heavy stages, with every issue listed.
    """
    source = check_source(ingestion)
    on_error = check_on_error(ingestion)
    mask_mode = check_mask_mode(ingestion)
    settings = SegmentationSettings.from_params(ingestion.get("masks", {}).get("segmentation", {}))
    reference = _reference(agreement)
    if source == "dicom":
        selection = ingestion.get("nodule_selection", "random")
        nodules = select_nodules(
            nodule_list.read(), selection, ingestion.get("seed", 0), str(nodule_list.filepath)
        )
        candidates, issues, n_found = dicom_scan_rows(
            dicom_folder.inventory(),
            nodules,
            str(nodule_list.filepath),
            KernelClassifier(kernel_classes),
            ingestion,
        )
    else:
        candidates = manifest_scan_rows(phantom_manifest if source == "phantom" else input_manifest)
        issues, n_found = [], candidates["image_path"].nunique()
    if candidates.empty:
        raise IngestionError(f"No usable scan found in the {source} source:\n{describe_issues(issues)}")
    _require_reference_condition(candidates, reference)
    segmented = [
        mask_mode == "seed_segmentation"
        or (mask_mode == "reference_propagated" and (k, float(t)) == reference)
        for k, t in zip(candidates["kernel"], candidates["slice_thickness_mm"])
    ]
    issues += scan_issues(candidates, mask_mode, settings, segmented)
    usable = ~candidates["scan_id"].isin({i.scan_id for i in issues if i.action == SKIP_SCAN})
    more, keep = completeness_issues(
        candidates,
        usable,
        reference,
        _unit_columns(ingestion),
        bool(agreement.get("allow_missing_patients", False)),
    )
    issues += more
    rows = candidates[keep]
    raise_on_issues(issues, on_error, ISSUES_REPORT)
    if rows.empty:
        raise IngestionError(f"No scan is left after validation:\n{describe_issues(issues)}")
    n_skipped = n_found - _n_images(rows)
    summary = _summary(source, ingestion, mask_mode, candidates, rows, issues, n_found, n_skipped, reference)
    _log_summary(summary, issues)
    scans = rows.assign(source=source).loc[:, list(SCAN_COLUMNS)].reset_index(drop=True)
    return (
        scans,
        issue_table(issues),
        summary,
        {"ingestion.n_skipped": {"value": float(n_skipped), "step": 0}},
    )


def _n_images(rows: pd.DataFrame) -> int:
    return len(rows[["image_path", "series_uid"]].drop_duplicates())


def _require_reference_condition(candidates: pd.DataFrame, reference: Condition) -> None:
    """No scan in the reference condition at all is a parameter problem, not a data one."""
    found = set(zip(candidates["kernel"], candidates["slice_thickness_mm"].astype(float)))
    if reference not in found:
        raise IngestionError(
            f"No scan is the reference condition {condition_name(reference)} (agreement.reference); "
            f"the conditions found are {', '.join(map(condition_name, sorted(found)))}. Set "
            "agreement.reference (conf/base/parameters_agreement.yml) to one of them."
        )


def _summary(
    source, ingestion, mask_mode, candidates, rows, issues, n_found, n_skipped, reference
) -> dict[str, Any]:
    """The ingestion report: the study scans found (series or image files), kept and skipped
    for a problem, the patients skipped, the issues (all, and problems), and how masks are made."""
    conditions = rows.groupby(["kernel", "slice_thickness_mm"])["patient_id"].nunique()
    problems = [i for i in issues if i.action not in REPORTED_ONLY]
    return {
        "source": source,
        "mask_mode": mask_mode,
        "nodule_selection": ingestion.get("nodule_selection") if source == "dicom" else None,
        "on_error": ingestion.get("on_error", "raise"),
        "reference": condition_name(reference),
        "n_found": int(n_found),
        "n_scans": int(len(rows)),
        "n_patients": int(rows["patient_id"].nunique()),
        "n_skipped": int(n_skipped),
        "skipped_patients": sorted(
            ({i.patient_id for i in problems if i.patient_id} | set(candidates["patient_id"]))
            - set(rows["patient_id"])
        ),
        "n_issues": len(issues),
        "n_problems": len(problems),
        "conditions": {condition_name((k, t)): int(n) for (k, t), n in conditions.items()},
    }


def _log_summary(summary: dict[str, Any], issues: list) -> None:
    logger.info(
        "Registered %d scans of %d patients from the %s (masks: %s): %s",
        summary["n_scans"],
        summary["n_patients"],
        summary["source"],
        summary["mask_mode"],
        ", ".join(f"{c} ({n})" for c, n in summary["conditions"].items()),
    )
    if issues:
        logger.warning(
            "%d ingestion issue(s), %d scan(s) skipped, patients skipped: %s; see %s.",
            len(issues),
            summary["n_skipped"],
            ", ".join(summary["skipped_patients"]) or "none",
            ISSUES_REPORT,
        )


def make_nodule_masks(
    registered_scans: pd.DataFrame, ingestion: dict[str, Any], agreement: dict[str, Any]
) -> tuple[dict[str, Callable[[], sitk.Image]], pd.DataFrame]:
    """The nodule mask of every scan per ``ingestion.masks.mode``, and the scans table
    pointing at them.

    ``provided`` keeps the manifest's (or the phantom's) masks and makes none. The others
    segment lazily, one scan at a time while the partitioned dataset saves, reading only
    the box around the seed (see :mod:`lung_fm_robustness.nodule_segmentation`).
    """
    mode = check_mask_mode(ingestion)
    if mode == "provided":
        return {}, registered_scans
    masks = ingestion["masks"]
    settings = SegmentationSettings.from_params(masks.get("segmentation", {}))
    scans = registered_scans.assign(
        mask_path=[f"{masks['directory']}/{key}{masks['suffix']}" for key in registered_scans["scan_id"]]
    )
    rows = {row.scan_id: row for row in scans.itertuples(index=False)}
    source_of = {key: key for key in rows}
    if mode == "reference_propagated":
        source_of = _reference_scans(scans, _reference(agreement), _unit_columns(ingestion))
    progress = ScanProgress(f"nodule masks ({mode})", len(rows), logger)

    @lru_cache(maxsize=64)
    def segmented(key: str) -> sitk.Image:
        row = rows[key]
        grid = VoxelGrid.of(read_volume_header(row.image_path, series_uid=row.series_uid))
        seed = (row.coordX, row.coordY, row.coordZ)
        radius = settings.sphere_radius_mm(row.diameter_mm)
        start, size = segmentation_box(grid, seed, radius, settings)
        region = read_volume_region(row.image_path, start, size, series_uid=row.series_uid)
        try:
            return segment_nodule(region, seed, radius, settings)
        except SegmentationError as err:
            raise SegmentationError(f"Scan '{key}' ({row.image_path}): {err}") from err

    def mask(key: str) -> Callable[[], sitk.Image]:
        def compute() -> sitk.Image:
            row = rows[key]
            grid = VoxelGrid.of(read_volume_header(row.image_path, series_uid=row.series_uid))
            result = mask_on_grid(segmented(source_of[key]), grid)
            progress.step()
            return result

        return compute

    return {key: mask(key) for key in rows}, scans


def _reference_scans(scans: pd.DataFrame, reference: Condition, unit_columns: list[str]) -> dict[str, str]:
    """The reference scan of each scan's patient (or nodule)."""
    is_reference = (scans["kernel"] == reference[0]) & (
        scans["slice_thickness_mm"].astype(float) == reference[1]
    )
    references = scans[is_reference].set_index(unit_columns)["scan_id"]
    units = scans.set_index(unit_columns).index
    return dict(zip(scans["scan_id"], references.reindex(units).to_numpy()))
