"""DICOM series into study conditions: thickness matching and the rules the study fixture of
tests/pipelines/test_ingestion.py does not show."""

from __future__ import annotations

import pandas as pd
import pytest

from lung_fm_robustness.dicom.conditions import dicom_scan_rows, match_thickness, study_thicknesses
from lung_fm_robustness.dicom.discovery import discover_series
from lung_fm_robustness.dicom.kernels import KernelClassifier
from tests.dicom.series_writer import ct_volume, write_series
from tests.dicom.test_kernels import TABLE

INGESTION = {"slice_thicknesses_mm": [1.0, 2.0], "thickness_tolerance_mm": 0.0, "nodule_selection": "random"}
NODULES = pd.DataFrame(
    {
        "patient_id": ["P1"],
        "nodule_id": ["1"],
        "coordX": [0.0],
        "coordY": [0.0],
        "coordZ": [-90.0],
        "line": [2],
    }
)


@pytest.mark.parametrize(
    "value, tolerance, expected",
    [
        (1.0, 0.0, 1.0),
        (1.25, 0.0, None),
        (1.25, 0.25, 1.0),
        (1.0000001, 0.0, 1.0),
        (1.6, 0.5, 2.0),
        (3.0, 0.5, None),
    ],
)
def test_a_thickness_counts_as_the_closest_nominal_one_within_the_tolerance(value, tolerance, expected):
    assert match_thickness(value, [1.0, 2.0], tolerance) == expected


def test_thickness_parameters_are_checked():
    with pytest.raises(
        ValueError, match=r"ingestion\.slice_thicknesses_mm must be a list of positive numbers"
    ):
        study_thicknesses({"slice_thicknesses_mm": [], "thickness_tolerance_mm": 0})


def _issues(tmp_path, **tags) -> list[tuple[str, str, str]]:
    write_series(ct_volume(size=(8, 8, tags.pop("depth", 4))), tmp_path, **tags)
    _, issues, n_study = dicom_scan_rows(
        discover_series(tmp_path), NODULES, "n.csv", KernelClassifier(TABLE), INGESTION
    )
    return [(i.rule, i.message, i.action) for i in issues], n_study


def test_a_single_slice_is_reported_as_outside_the_study(tmp_path):
    issues, n_study = _issues(tmp_path, depth=1)
    assert issues == [
        ("not_a_volume", "a single slice (a localizer or a dose screen?) is not a volume.", "ignore series")
    ]
    assert n_study == 0


@pytest.mark.parametrize(
    "tags, rule, message",
    [
        ({"patient_id": ""}, "patient_id", "no PatientID (0010,0020): the series cannot be matched to the nodule list."),
        ({"patient_id": "P 1"}, "patient_id", "PatientID 'P 1' has characters other than letters, digits, '.', '_' and "
         "'-' (it names output files); export the series with a pseudonymised PatientID."),
        ({"manufacturer": "ACME CT"}, "kernel_unknown", "Manufacturer (0008,0070) 'ACME CT' matches no vendor of "
         "'kernel_classes': add the vendor (a 'manufacturer' regex and its kernel classes) to "
         "conf/base/parameters_dicom_kernels.yml."),
        ({"kernel": ""}, "kernel_unknown", "no ConvolutionKernel (0018,1210): the kernel class is unknown."),
        ({"thickness": ""}, "slice_thickness", "no usable SliceThickness (0018,0050) (found None): the "
         "condition is unknown."),
    ],
)  # fmt: skip
def test_study_series_problems_skip_the_series(tmp_path, tags, rule, message):
    issues, n_study = _issues(tmp_path, **tags)
    assert issues[0] == (rule, message, "skip series") and n_study == 1
