"""DICOM series into the study's scans: one condition (kernel class x nominal slice
thickness) per usable series, paired with its patient's nodules.

A series belongs to the study when it is a CT volume (two slices or more) whose slice
thickness matches one of ``ingestion.slice_thicknesses_mm`` (within
``ingestion.thickness_tolerance_mm``); others are reported and ignored. A study series is
usable when it has a SliceThickness, a PatientID, a kernel the vendor table classifies,
evenly spaced slices and no other series of the same patient in the same condition; every series that is not
usable is an :class:`Issue` of ingestion.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pandas as pd

from lung_fm_robustness.dicom.discovery import DicomSeries, SeriesInventory
from lung_fm_robustness.dicom.kernels import PARAMS_FILE, PARAMS_KEY, KernelClassifier, first_kernel_value
from lung_fm_robustness.ingestion_issues import (
    IGNORE_PATIENT,
    IGNORE_SERIES,
    SKIP_FILE,
    SKIP_NODULE,
    SKIP_SERIES,
    Issue,
)
from lung_fm_robustness.manifest import scan_id

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SLACK_MM = 1e-6  # float noise in DICOM decimal strings


def study_thicknesses(ingestion: dict[str, Any]) -> tuple[list[float], float]:
    """``ingestion.slice_thicknesses_mm`` and ``ingestion.thickness_tolerance_mm``, checked."""
    nominal = ingestion.get("slice_thicknesses_mm")
    tolerance = ingestion.get("thickness_tolerance_mm", 0.0)
    if (
        not isinstance(nominal, list | tuple)
        or not nominal
        or not all(isinstance(t, int | float) and not isinstance(t, bool) and t > 0 for t in nominal)
    ):
        raise ValueError(
            f"ingestion.slice_thicknesses_mm must be a list of positive numbers (mm), got {nominal!r}."
        )
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise ValueError(f"ingestion.thickness_tolerance_mm must be a number >= 0 (mm), got {tolerance!r}.")
    return [float(t) for t in nominal], float(tolerance)


def match_thickness(value: float, nominal: list[float], tolerance: float) -> float | None:
    """The nominal thickness closest to ``value`` if within ``tolerance``, else None."""
    closest = min(nominal, key=lambda t: (abs(t - value), t))
    return closest if abs(closest - value) <= tolerance + _SLACK_MM else None


def _series_issues(
    series: DicomSeries, classifier: KernelClassifier, nominal: list[float], tolerance: float
) -> tuple[list[tuple[str, str, str]], str | None, float | None]:
    """The (rule, message, action) issues of one series, its kernel class and nominal thickness.

    A series outside the study (not CT, a single slice, another slice thickness) is only
    reported (``ignore series``); a study series that cannot be used is a problem."""
    if series.error:
        return [("unreadable", f"cannot read the series' headers: {series.error}", SKIP_SERIES)], None, None
    ignored = _outside_the_study(series, nominal, tolerance)
    if ignored:
        return [(*ignored, IGNORE_SERIES)], None, None
    problems = []
    if series.slice_thickness_mm() is None:
        problems.append(
            (
                "slice_thickness",
                f"no usable SliceThickness (0018,0050) (found {series.slice_thickness!r}): the condition is unknown.",
            )
        )
    if not series.patient_id:
        problems.append(
            ("patient_id", "no PatientID (0010,0020): the series cannot be matched to the nodule list.")
        )
    elif not _SAFE_ID.match(series.patient_id):
        problems.append(
            (
                "patient_id",
                f"PatientID {series.patient_id!r} has characters other than letters, digits, '.', '_' "
                "and '-' (it names output files); export the series with a pseudonymised PatientID.",
            )
        )
    if series.uneven_spacing():
        problems.append(
            (
                "geometry",
                f"slices are unevenly spaced (first gap {series.first_gap_mm:.3f} mm, mean "
                f"{series.header.spacing[2]:.3f} mm): a slice is missing or unreadable.",
            )
        )
    kernel_class = _kernel_class(series, classifier, problems)
    thickness = None if problems else match_thickness(series.slice_thickness_mm(), nominal, tolerance)
    return [(rule, message, SKIP_SERIES) for rule, message in problems], kernel_class, thickness


def _outside_the_study(series: DicomSeries, nominal: list[float], tolerance: float) -> tuple[str, str] | None:
    """(rule, message) when the series is not one of the study's reconstructions."""
    if series.modality != "CT":
        return (
            "modality",
            f"Modality (0008,0060) is {series.modality!r}, not 'CT': only CT series are analysed.",
        )
    if series.n_files < 2:
        return "not_a_volume", "a single slice (a localizer or a dose screen?) is not a volume."
    thickness = series.slice_thickness_mm()
    if thickness is not None and match_thickness(thickness, nominal, tolerance) is None:
        closest = min(nominal, key=lambda t: abs(t - thickness))
        return "slice_thickness", (
            f"slice thickness {thickness:g} mm matches none of ingestion.slice_thicknesses_mm "
            f"{nominal} within ingestion.thickness_tolerance_mm {tolerance:g}; add it to the "
            f"list, or set the tolerance to {abs(closest - thickness):g} to count it as "
            f"{closest:g} mm."
        )
    return None


def _kernel_class(series: DicomSeries, classifier: KernelClassifier, problems: list) -> str | None:
    vendor = classifier.vendor(series.manufacturer)
    if vendor is None:
        problems.append(
            (
                "kernel_unknown",
                f"Manufacturer (0008,0070) {series.manufacturer!r} matches no vendor of "
                f"'{PARAMS_KEY}': add the vendor (a 'manufacturer' regex and its kernel classes) "
                f"to {PARAMS_FILE}.",
            )
        )
        return None
    if not series.convolution_kernel:
        problems.append(("kernel_unknown", "no ConvolutionKernel (0018,1210): the kernel class is unknown."))
        return None
    kernel_class = classifier.classify(series.manufacturer, series.convolution_kernel)
    if kernel_class is None:
        problems.append(
            (
                "kernel_unknown",
                f"{vendor.name} kernel {first_kernel_value(series.convolution_kernel)!r} is in no class: "
                f"add a regex matching it to one of {', '.join(vendor.classes)} under "
                f"'{PARAMS_KEY}.{vendor.name}' in {PARAMS_FILE}.",
            )
        )
    return kernel_class


def dicom_scan_rows(
    inventory: SeriesInventory,
    nodules: pd.DataFrame,
    nodules_source: str,
    classifier: KernelClassifier,
    ingestion: dict[str, Any],
) -> tuple[pd.DataFrame, list[Issue], int]:
    """One candidate scan row per usable series and selected nodule; the issues; and the
    number of study series found (not ignored: inside the study, of a patient with nodules)."""
    nominal, tolerance = study_thicknesses(ingestion)
    one_per_nodule = ingestion.get("nodule_selection") == "all"
    issues = [
        Issue(
            "unreadable",
            "DICOM file GDCM cannot parse (truncated or corrupt); it is not part of any series.",
            SKIP_FILE,
            path,
        )
        for path in inventory.unreadable_files
    ]
    usable, n_ignored = defaultdict(list), 0
    for series in inventory.series:
        problems, kernel_class, thickness = _series_issues(series, classifier, nominal, tolerance)
        issues += [
            Issue(rule, message, action, series.location, series.patient_id)
            for rule, message, action in problems
        ]
        n_ignored += any(action == IGNORE_SERIES for _, _, action in problems)
        if not problems:
            usable[(series.patient_id, kernel_class, thickness)].append(series)
    for (patient, kernel_class, thickness), same in list(usable.items()):
        if len(same) > 1:
            message = (
                f"{len(same)} series of patient {patient} are {kernel_class} {thickness:.1f} mm "
                f"({', '.join(s.series_uid for s in same)}); keep one (move the others out of "
                "ingestion.dicom_root)."
            )
            issues += [Issue("duplicate", message, SKIP_SERIES, s.location, patient) for s in same]
            del usable[(patient, kernel_class, thickness)]
    found_patients = {s.patient_id for s in inventory.series if s.patient_id}
    listed = set(nodules["patient_id"])
    for patient in sorted({key[0] for key in usable} - listed):
        n_ignored += sum(len(same) for key, same in usable.items() if key[0] == patient)
        issues.append(
            Issue(
                "no_nodule",
                f"patient {patient} has CT series but no row in {nodules_source}: not analysed "
                "(add its nodules to analyse it).",
                IGNORE_PATIENT,
                inventory.root,
                patient,
            )
        )
    for row in nodules[~nodules["patient_id"].isin(found_patients)].itertuples(index=False):
        issues.append(
            Issue(
                "no_series",
                f"no series of patient {row.patient_id} under ingestion.dicom_root {inventory.root} "
                "(its PatientID (0010,0020) must equal the nodule list's patient_id).",
                SKIP_NODULE,
                f"{nodules_source} line {row.line}",
                row.patient_id,
            )
        )
    rows = []
    by_patient = {p: group for p, group in nodules.groupby("patient_id", sort=False)}
    for (patient, kernel_class, thickness), (series,) in usable.items():
        for nodule in by_patient.get(patient, pd.DataFrame()).itertuples(index=False):
            key = scan_id(patient, kernel_class, thickness)
            rows.append(
                {
                    "scan_id": f"{key}_{nodule.nodule_id}" if one_per_nodule else key,
                    "patient_id": patient,
                    "nodule_id": nodule.nodule_id,
                    "kernel": kernel_class,
                    "slice_thickness_mm": thickness,
                    "image_path": series.directory,
                    "series_uid": series.series_uid,
                    "coordX": nodule.coordX,
                    "coordY": nodule.coordY,
                    "coordZ": nodule.coordZ,
                    "diameter_mm": getattr(nodule, "diameter_mm", None),
                    "mask_path": None,
                    "manufacturer": series.manufacturer,
                    "convolution_kernel": series.convolution_kernel,
                    "location": f"{series.location}; {nodules_source} line {nodule.line}",
                    "line": nodule.line,
                }
            )
    classes = list(dict.fromkeys(c for vendor in classifier.vendors for c in vendor.classes))
    frame = pd.DataFrame(rows)
    if not frame.empty:
        order = frame["kernel"].map(classes.index)
        frame = frame.assign(order=order).sort_values(["patient_id", "line", "order", "slice_thickness_mm"])
        frame = frame.drop(columns=["order", "line"]).reset_index(drop=True)
    return frame, issues, len(inventory.series) - n_ignored
