"""Binary tasks and their labels, one label per patient: the phantom's ground-truth tasks, or
binary columns of the user's manifest / nodule list.

Every patient left out of a task (e.g. calcified nodules in solid vs subsolid) is counted
and named in the label summary, never dropped silently.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

LABEL_COLUMNS = ["task", "patient_id", "label"]
SUMMARY_COLUMNS = ["task", "source", "n_patients", "n_positive", "n_negative", "n_excluded", "excluded"]

# Phantom tasks: (name, truth column, positive values, negative values); values outside both are
# excluded and counted.
PHANTOM_TASKS = {
    "solid_vs_subsolid": ("nodule_type", ("solid",), ("part_solid", "ground_glass")),
    "spiculated_vs_not": ("margin", ("spiculated",), ("smooth", "lobulated")),
}


class LabelError(ValueError):
    """A label column that cannot define a binary task."""


def phantom_labels(truth: pd.DataFrame, tasks: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels of the phantom's ground-truth tasks (``PHANTOM_TASKS``) per patient, and their
    summary (patients, positives, and the excluded patients with their value)."""
    unknown = [t for t in tasks if t not in PHANTOM_TASKS]
    if unknown:
        raise LabelError(
            f"downstream.tasks has unknown phantom task(s) {unknown}; choose from {sorted(PHANTOM_TASKS)}."
        )
    labels, summary = [], []
    for task in tasks:
        column, positive, negative = PHANTOM_TASKS[task]
        values = truth[column].astype(str)
        known = values.isin(positive + negative)
        labels.append(
            pd.DataFrame(
                {"task": task, "patient_id": truth.loc[known, "patient_id"].astype(str),
                 "label": values[known].isin(positive).astype(np.int64)}
            )
        )
        excluded = truth.loc[~known]
        summary.append(_summary_row(task, f"nodule_truth.{column}", labels[-1], excluded, values[~known]))
    return _finish(labels, summary)


def user_labels(table: pd.DataFrame, columns: Sequence[str], source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels from binary columns of a user table (manifest: one row per scan; nodule list: one
    row per nodule), one per patient.

    Raises:
        LabelError: a column is missing, holds values other than two classes (0/1, true/false
            or two distinct strings are not accepted: write 0/1), is empty for a patient, or
            differs between a patient's rows.
    """
    if not columns:
        raise LabelError(
            f"downstream.label_columns is empty, so there is no task for the user data in {source}. "
            "Fix: name binary (0/1) columns of that table, e.g. --params downstream.label_columns=malignant."
        )
    labels, summary = [], []
    for column in columns:
        if column not in table.columns:
            raise LabelError(
                f"Label column '{column}' (downstream.label_columns) is not in {source}; its columns are "
                f"{list(table.columns)}. Fix: add the column (0/1 per row) or correct the name."
            )
        values = table[column]
        missing = values.isna()
        if missing.any():
            raise LabelError(
                f"Label column '{column}' of {source} is empty on {int(missing.sum())} row(s) (first: line "
                f"{int(np.flatnonzero(missing.to_numpy())[0]) + 2}). Fix: give every row 0 or 1."
            )
        numeric = pd.to_numeric(values.replace({True: 1, False: 0, "true": 1, "false": 0, "True": 1, "False": 0}),
                                errors="coerce")
        bad = numeric.isna() | ~numeric.isin([0, 1])
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise LabelError(
                f"Label column '{column}' of {source} is not binary: line {first + 2} holds "
                f"{values.iloc[first]!r}. Fix: write the label as 0/1 (or true/false)."
            )
        per_patient = pd.DataFrame({"patient_id": table["patient_id"].astype(str), "label": numeric.astype(np.int64)})
        n_values = per_patient.groupby("patient_id")["label"].nunique()
        conflicting = n_values[n_values > 1].index.tolist()
        if conflicting:
            raise LabelError(
                f"Label column '{column}' of {source} differs between the rows of patient(s) {conflicting[:5]}"
                f"{' and more' if len(conflicting) > 5 else ''}; the task needs one label per patient. "
                "Fix: give each patient one value."
            )
        task_labels = per_patient.drop_duplicates("patient_id").assign(task=column)[LABEL_COLUMNS]
        labels.append(task_labels)
        summary.append(_summary_row(column, f"{source}:{column}", task_labels, table.iloc[0:0], pd.Series(dtype=str)))
    return _finish(labels, summary)


def require_trainable(labels: pd.DataFrame, n_folds: int) -> None:
    """Stratified K-fold needs both classes, each with at least ``n_folds`` patients."""
    for task, rows in labels.groupby("task", sort=False):
        counts = rows["label"].value_counts()
        n_pos, n_neg = int(counts.get(1, 0)), int(counts.get(0, 0))
        if n_pos == 0 or n_neg == 0:
            raise LabelError(
                f"Task '{task}' has only one class ({n_pos} positive, {n_neg} negative patients): no AUC "
                "can be computed. Fix: choose a label column with both classes, or drop the task."
            )
        if min(n_pos, n_neg) < n_folds:
            raise LabelError(
                f"Task '{task}' has {min(n_pos, n_neg)} patient(s) in its smaller class "
                f"({n_pos} positive, {n_neg} negative), fewer than downstream.n_folds={n_folds}: every "
                "fold needs one of each. Fix: lower downstream.n_folds (at least 2) or add patients."
            )


def _summary_row(task: str, source: str, labels: pd.DataFrame, excluded: pd.DataFrame, values: pd.Series) -> dict:
    listing = "; ".join(f"{p} ({v})" for p, v in zip(excluded.get("patient_id", []), values))
    return {
        "task": task,
        "source": source,
        "n_patients": len(labels),
        "n_positive": int(labels["label"].sum()),
        "n_negative": int((labels["label"] == 0).sum()),
        "n_excluded": len(excluded),
        "excluded": listing,
    }


def _finish(labels: list[pd.DataFrame], summary: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.concat(labels, ignore_index=True)[LABEL_COLUMNS] if labels else pd.DataFrame(columns=LABEL_COLUMNS)
    return frame, pd.DataFrame(summary, columns=SUMMARY_COLUMNS)
