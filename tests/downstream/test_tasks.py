"""Labels: the phantom's tasks with every exclusion counted, user label columns validated with
messages that name the column and the fix."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from lung_fm_robustness.downstream.tasks import (
    LabelError,
    phantom_labels,
    require_trainable,
    user_labels,
)

TRUTH = pd.DataFrame({
    "patient_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
    "nodule_type": ["solid", "part_solid", "ground_glass", "calcified", "solid", "calcified"],
    "margin": ["smooth", "spiculated", "lobulated", "smooth", "spiculated", "smooth"],
})


def test_phantom_tasks_exclude_calcified_nodules_and_count_them():
    labels, summary = phantom_labels(TRUTH, ["solid_vs_subsolid", "spiculated_vs_not"])
    solid = labels[labels.task == "solid_vs_subsolid"].set_index("patient_id")["label"]
    assert solid.to_dict() == {"P1": 1, "P2": 0, "P3": 0, "P5": 1}
    spiculated = labels[labels.task == "spiculated_vs_not"].set_index("patient_id")["label"]
    assert spiculated.to_dict() == {"P1": 0, "P2": 1, "P3": 0, "P4": 0, "P5": 1, "P6": 0}
    row = summary.set_index("task").loc["solid_vs_subsolid"]
    assert (row.n_patients, row.n_positive, row.n_negative, row.n_excluded) == (4, 2, 2, 2)
    assert row.excluded == "P4 (calcified); P6 (calcified)"
    assert summary.set_index("task").loc["spiculated_vs_not", "n_excluded"] == 0


def test_unknown_phantom_task_is_named():
    with pytest.raises(LabelError, match=re.escape(
        "downstream.tasks has unknown phantom task(s) ['size']; choose from ['solid_vs_subsolid', 'spiculated_vs_not']."
    )):
        phantom_labels(TRUTH, ["size"])


MANIFEST = pd.DataFrame({
    "patient_id": ["A", "A", "B", "B", "C", "C"],
    "kernel": ["medium", "sharp"] * 3,
    "malignant": [1, 1, 0, 0, 1, 1],
    "grade": ["low", "low", "high", "high", "mid", "mid"],
    "mixed": [1, 0, 0, 0, 1, 1],
    "gap": [1, 1, None, None, 0, 0],
})


def test_user_label_column_gives_one_label_per_patient():
    labels, summary = user_labels(MANIFEST, ["malignant"], "the manifest 'm.csv'")
    assert labels.set_index("patient_id")["label"].to_dict() == {"A": 1, "B": 0, "C": 1}
    assert summary.iloc[0][["n_patients", "n_positive", "n_negative", "n_excluded"]].tolist() == [3, 2, 1, 0]


@pytest.mark.parametrize(
    "column, message",
    [
        ("malignancy", ("Label column 'malignancy' (downstream.label_columns) is not in the manifest 'm.csv'; its "
                        "columns are ['patient_id', 'kernel', 'malignant', 'grade', 'mixed', 'gap']. Fix: add the "
                        "column (0/1 per row) or correct the name.")),
        ("grade", ("Label column 'grade' of the manifest 'm.csv' is not binary: line 2 holds 'low'. Fix: write the "
                   "label as 0/1 (or true/false).")),
        ("gap", ("Label column 'gap' of the manifest 'm.csv' is empty on 2 row(s) (first: line 4). Fix: give every "
                 "row 0 or 1.")),
        ("mixed", ("Label column 'mixed' of the manifest 'm.csv' differs between the rows of patient(s) ['A']; the "
                   "task needs one label per patient. Fix: give each patient one value.")),
    ],
)
def test_bad_label_columns_are_named_with_the_fix(column, message):
    with pytest.raises(LabelError, match=re.escape(message)):
        user_labels(MANIFEST, [column], "the manifest 'm.csv'")


def test_no_label_columns_for_user_data_is_an_error():
    with pytest.raises(LabelError, match=re.escape(
        "downstream.label_columns is empty, so there is no task for the user data in the manifest 'm.csv'. "
        "Fix: name binary (0/1) columns of that table, e.g. --params downstream.label_columns=malignant."
    )):
        user_labels(MANIFEST, [], "the manifest 'm.csv'")


def test_one_class_or_too_few_positives_for_the_folds_is_an_error():
    one_class = pd.DataFrame({"task": "t", "patient_id": list("abcdef"), "label": [1] * 6})
    with pytest.raises(LabelError, match=re.escape(
        "Task 't' has only one class (6 positive, 0 negative patients): no AUC can be computed. Fix: choose a "
        "label column with both classes, or drop the task."
    )):
        require_trainable(one_class, 5)
    few = pd.DataFrame({"task": "t", "patient_id": list("abcdefgh"), "label": [1, 1, 0, 0, 0, 0, 0, 0]})
    with pytest.raises(LabelError, match=re.escape(
        "Task 't' has 2 patient(s) in its smaller class (2 positive, 6 negative), fewer than "
        "downstream.n_folds=5: every fold needs one of each. Fix: lower downstream.n_folds (at least 2) or add "
        "patients."
    )):
        require_trainable(few, 5)
    require_trainable(few, 2)
