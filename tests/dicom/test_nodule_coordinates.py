"""The nodule list of a DICOM study: validation, and the nodules each patient brings."""

from __future__ import annotations

import pandas as pd
import pytest

from lung_fm_robustness.manifest import ManifestError
from lung_fm_robustness.nodule_coordinates import select_nodules, validate_nodules


def _nodules(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P1", "P2"],
            "coordX": [1.0, 5.0, -3.0, 0.0],
            "coordY": [2.0, 6.0, 4.0, 0.0],
            "coordZ": [-90.0, -88.0, -95.0, -90.0],
            "diameter_mm": [6.0, 11.0, 8.0, None],
        }
    )
    return frame.assign(**columns)


def test_nodule_ids_default_to_their_order_per_patient_and_lines_are_kept():
    table = validate_nodules(_nodules(), "n.csv")
    assert table["nodule_id"].tolist() == ["1", "2", "3", "1"]
    assert table["line"].tolist() == [2, 3, 4, 5]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"coordX": [1.0, "x", -3.0, 0.0]}, r"n\.csv: 'coordX' must be a finite number \(LPS mm\); line 3 hold 'x'"),
        ({"diameter_mm": [6.0, -1.0, 8.0, None]}, r"'diameter_mm' must be a positive number \(mm\) or empty; line 3"),
        ({"nodule_id": ["a", "a", "b", "a"]}, r"n\.csv: lines 2, 3 repeat the same patient and nodule_id"),
        ({"coordX": [1.0, 1.0, -3.0, 0.0], "coordY": [2.0, 2.0, 4.0, 0.0], "coordZ": [-90.0, -90.0, -95.0, -90.0]},
         r"lines 2, 3 repeat the same patient and coordinates"),
        ({"nodule_id": ["a", "b/c", "d", "e"]}, r"'nodule_id' on line 3 must use only letters"),
        ({"patient_id": ["P1", " ", "P1", "P2"]}, r"empty 'patient_id' on line 3"),
    ],
)  # fmt: skip
def test_bad_rows_are_named_by_line(change, message):
    with pytest.raises(ManifestError, match=message):
        validate_nodules(_nodules(**change), "n.csv")


def test_missing_columns_are_listed():
    with pytest.raises(
        ManifestError, match=r"n\.csv: missing column\(s\) coordZ\. The nodule list needs patient_id"
    ):
        validate_nodules(_nodules().drop(columns="coordZ"), "n.csv")


def test_largest_takes_each_patients_largest_nodule():
    chosen = select_nodules(validate_nodules(_nodules(), "n.csv"), "largest", 0, "n.csv")
    assert list(zip(chosen["patient_id"], chosen["nodule_id"])) == [("P1", "2"), ("P2", "1")]


def test_largest_needs_diameters():
    with pytest.raises(
        ManifestError, match=r"n\.csv: ingestion\.nodule_selection 'largest' needs a 'diameter_mm' column"
    ):
        select_nodules(
            validate_nodules(_nodules().drop(columns="diameter_mm"), "n.csv"), "largest", 0, "n.csv"
        )
    holes = _nodules(diameter_mm=[6.0, None, 8.0, None])
    with pytest.raises(
        ManifestError, match=r"empty 'diameter_mm' on line 3, for a patient with several nodules"
    ):
        select_nodules(validate_nodules(holes, "n.csv"), "largest", 0, "n.csv")


def test_random_takes_one_per_patient_reproducibly_and_independently_of_other_patients():
    nodules = validate_nodules(_nodules(), "n.csv")
    picks = {seed: select_nodules(nodules, "random", seed, "n.csv") for seed in range(12)}
    assert all(list(p["patient_id"]) == ["P1", "P2"] for p in picks.values())
    assert len({p.loc[0, "nodule_id"] for p in picks.values()}) > 1  # the seed matters
    assert select_nodules(nodules, "random", 3, "n.csv").equals(picks[3])
    alone = select_nodules(nodules[nodules["patient_id"] == "P1"], "random", 3, "n.csv")
    assert alone.loc[0, "nodule_id"] == picks[3].loc[0, "nodule_id"]


def test_all_keeps_every_nodule_and_unknown_selection_lists_the_choices():
    nodules = validate_nodules(_nodules(), "n.csv")
    assert len(select_nodules(nodules, "all", 0, "n.csv")) == 4
    with pytest.raises(
        ValueError, match="ingestion.nodule_selection must be one of random, largest, all, got 'first'"
    ):
        select_nodules(nodules, "first", 0, "n.csv")
