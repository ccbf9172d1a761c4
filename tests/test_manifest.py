"""Manifest validation: every rule, with the line it names."""
from __future__ import annotations

import pandas as pd
import pytest

from lung_fm_robustness.manifest import ManifestError, scan_id, validate_manifest


def _frame(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2"],
            "kernel": ["medium", "sharp", "medium"],
            "slice_thickness_mm": [1.0, 1.0, 1.0],
            "image_path": ["a.nii.gz", "b.nii.gz", "c.nii.gz"],
            "coordX": [1.0, 1.0, 2.0],
            "coordY": [0.0, 0.0, 3.0],
            "coordZ": [-5.0, -5.0, 7.5],
        }
    )
    for column, (row, value) in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    return frame


def test_valid_manifest_gets_numeric_types_and_empty_masks():
    table = validate_manifest(_frame(slice_thickness_mm=(1, "2.0")), "m.csv")
    assert table["slice_thickness_mm"].tolist() == [1.0, 2.0, 1.0]
    assert table["mask_path"].tolist() == [None, None, None]


def test_missing_column_lists_what_is_needed_and_found():
    with pytest.raises(ManifestError, match=r"m\.csv: missing column\(s\) coordZ.*found patient_id"):
        validate_manifest(_frame().drop(columns="coordZ"), "m.csv")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"coordY": (1, "12a")}, r"'coordY' must be a finite number \(LPS mm\); line 3 hold '12a'"),
        ({"slice_thickness_mm": (2, 0.0)}, r"'slice_thickness_mm' must be a positive number; line 4"),
        ({"kernel": (0, "")}, r"empty 'kernel' on line 2"),
        ({"patient_id": (2, "P 2/x")}, r"'patient_id' on line 4 must use only letters"),
        ({"kernel": (1, "medium")}, r"lines 2, 3 repeat the same patient, kernel and slice thickness"),
    ],
)
def test_bad_values_name_the_line(changes, message):
    with pytest.raises(ManifestError, match=message):
        validate_manifest(_frame(**changes), "m.csv")


def test_scan_id_is_stable_and_names_the_condition():
    assert scan_id("P007", "sharp", 2) == "P007_sharp_2.0mm"
