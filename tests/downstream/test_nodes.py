"""The label node picks its source from ingestion.source and stops early on untrainable tasks."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from lung_fm_robustness.datasets.nodule_csv import NoduleCsvSource
from lung_fm_robustness.datasets.scan_manifest import ManifestSource
from lung_fm_robustness.downstream.tasks import LabelError
from lung_fm_robustness.downstream.truth_dataset import PhantomTruthSource
from lung_fm_robustness.pipelines.downstream.nodes import build_labels

DOWNSTREAM = {"tasks": ["solid_vs_subsolid"], "label_columns": "malignant", "n_folds": 2, "seed": 0,
              "model": {"C": 0.1, "pca_components": 10, "max_iter": 100}}


def test_dicom_source_reads_label_columns_of_the_nodule_list(tmp_path):
    path = tmp_path / "nodules.csv"
    pd.DataFrame({"patient_id": ["A", "B", "C", "D"], "coordX": 1.0, "coordY": 2.0, "coordZ": 3.0,
                  "malignant": [1, 0, 1, 0]}).to_csv(path, index=False)
    labels, summary = build_labels(PhantomTruthSource(tmp_path / "absent.parquet"), ManifestSource(tmp_path / "m.csv"),
                                   NoduleCsvSource(path), {"source": "dicom"}, DOWNSTREAM)
    assert labels.set_index("patient_id")["label"].to_dict() == {"A": 1, "B": 0, "C": 1, "D": 0}
    assert summary.iloc[0]["source"] == f"the nodule list '{path}':malignant"


def test_phantom_source_without_a_phantom_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("Fix: run `kedro run` (ingestion) with ingestion.source=phantom first.")):
        build_labels(PhantomTruthSource(tmp_path / "absent.parquet"), ManifestSource(tmp_path / "m.csv"),
                     NoduleCsvSource(tmp_path / "n.csv"), {"source": "phantom"}, DOWNSTREAM)


def test_too_few_patients_per_class_for_the_folds_stops_before_any_model(tmp_path):
    path = tmp_path / "truth.parquet"
    pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "nodule_type": ["solid", "solid", "ground_glass"],
                  "margin": "smooth"}).to_parquet(path)
    with pytest.raises(LabelError, match=re.escape("Task 'solid_vs_subsolid' has 1 patient(s) in its smaller class")):
        build_labels(PhantomTruthSource(path), ManifestSource(tmp_path / "m.csv"), NoduleCsvSource(tmp_path / "n.csv"),
                     {"source": "phantom"}, DOWNSTREAM)


def test_phantom_tasks_from_the_command_line_are_split_at_plus(tmp_path):
    path = tmp_path / "truth.parquet"
    pd.DataFrame({"patient_id": ["P1", "P2", "P3", "P4"], "nodule_type": ["solid", "solid", "ground_glass", "part_solid"],
                  "margin": ["spiculated", "smooth", "spiculated", "lobulated"]}).to_parquet(path)
    labels, summary = build_labels(PhantomTruthSource(path), ManifestSource(tmp_path / "m.csv"),
                                   NoduleCsvSource(tmp_path / "n.csv"), {"source": "phantom"},
                                   {**DOWNSTREAM, "tasks": "solid_vs_subsolid+spiculated_vs_not"})
    assert summary["task"].tolist() == ["solid_vs_subsolid", "spiculated_vs_not"]
    assert len(labels) == 8
