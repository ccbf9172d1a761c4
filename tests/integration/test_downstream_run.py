"""`kedro run --pipelines downstream` after a full `kedro run` on a small phantom, in a temporary
copy of the project: the results table, its agreement with the predictions behind it, the
ComBat study table, the report, and the MLflow run (stable metric keys, FM label)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tests.integration.test_kedro_run import copy_project, kedro, mlflow_runs

pytestmark = pytest.mark.slow

N_PATIENTS = 20
N_FOLDS = 3
FM_LABEL = "resnet50-random-init (resampling: fmcib)"
RESULT_COLUMNS = [
    "extractor", "extractor_label", "feature_set", "harmonisation", "task", "kernel", "slice_thickness_mm",
    "is_reference", "auc", "ci_low", "ci_high", "delta_auc", "probability_ccc", "flip_share",
    "n_patients", "n_positive", "n_features",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("downstream"))
    study = kedro(project, "run", "--params", f"ingestion.phantom.n_patients={N_PATIENTS},fm.batch_size=4")
    assert study.returncode == 0, study.stdout[-3000:] + study.stderr[-3000:]
    run = kedro(project, "run", "--pipelines", "downstream", "--params", f"downstream.n_folds={N_FOLDS}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return project


def _reporting(project, name):
    path = project / "data/08_reporting" / name
    return pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)


def test_results_cover_every_set_harmonisation_task_and_condition(project):
    results = _reporting(project, "downstream_results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    sets = {("fm", "features"), ("radiomics", "features"), ("fm", "negative_control"),
            ("radiomics", "negative_control"), ("volume", "volume")}
    assert set(zip(results.extractor, results.feature_set)) == sets
    # 4 feature sets x 2 harmonisations + volume x 1, times 2 tasks x 6 conditions
    assert len(results) == (4 * 2 + 1) * 2 * 6
    assert set(results.loc[results.extractor == "fm", "extractor_label"]) == {FM_LABEL}
    assert set(results.loc[results.extractor == "volume", "harmonisation"]) == {"none"}
    reference = results[results.is_reference]
    assert (reference.kernel == "medium").all() and (reference.slice_thickness_mm == 1.0).all()
    assert (reference.delta_auc == 0).all() and (reference.flip_share == 0).all()
    assert np.allclose(reference.probability_ccc, 1.0)
    assert results.auc.between(0, 1).all() and (results.ci_low <= results.auc).all() and (results.auc <= results.ci_high).all()
    assert (results.loc[results.extractor == "fm", "n_features"] == 4096).all()


def test_labels_count_the_excluded_calcified_nodules(project):
    summary = _reporting(project, "downstream_label_summary.csv").set_index("task")
    truth = pd.read_parquet(project / "data/01_raw/phantom/nodule_truth.parquet")
    calcified = int((truth.nodule_type == "calcified").sum())
    assert summary.loc["solid_vs_subsolid", "n_excluded"] == calcified
    assert summary.loc["solid_vs_subsolid", "n_patients"] == N_PATIENTS - calcified
    assert summary.loc["solid_vs_subsolid", "n_positive"] == int((truth.nodule_type == "solid").sum())
    assert summary.loc["spiculated_vs_not", "n_positive"] == int((truth.margin == "spiculated").sum())


def test_results_agree_with_the_predictions_behind_them(project):
    results = _reporting(project, "downstream_results.csv")
    predictions = _reporting(project, "downstream_predictions.parquet")
    keys = ["extractor", "feature_set", "harmonisation", "task"]
    assert (predictions.groupby([*keys, "patient_id"])["fold"].nunique() == 1).all()  # same fold everywhere
    assert set(predictions.fold) == set(range(N_FOLDS))
    for _, row in results.sample(12, random_state=0).iterrows():
        block = predictions[(predictions[keys] == row[keys]).all(axis=1)]
        rows = block[(block.kernel == row.kernel) & (block.slice_thickness_mm == row.slice_thickness_mm)]
        assert row.auc == pytest.approx(roc_auc_score(rows.label, rows.probability), abs=1e-12)
        ref = block[(block.kernel == "medium") & (block.slice_thickness_mm == 1.0)].set_index("patient_id")
        flips = ((rows.set_index("patient_id").probability >= 0.5) != (ref.loc[rows.patient_id].probability >= 0.5))
        assert row.flip_share == pytest.approx(flips.mean(), abs=1e-12)


def test_combat_study_table_sits_beside_the_agreement_summary(project):
    combat = _reporting(project, "downstream_combat_study.csv")
    summary = _reporting(project, "agreement_summary.csv")
    merged = combat.merge(summary, on=["extractor", "kernel", "slice_thickness_mm"])
    assert len(merged) == len(summary) == 10
    np.testing.assert_allclose(merged.mean_ccc_before, merged.mean_ccc, rtol=1e-9)
    np.testing.assert_allclose(merged.pct_strong_before, merged.pct_strong, rtol=1e-9)
    radiomics = combat[combat.extractor == "radiomics"]
    assert (radiomics.mean_ccc_combat > radiomics.mean_ccc_before).mean() >= 0.8


def test_report_figures_and_mlflow_run(project):
    report = (project / "data/08_reporting/downstream_report.html").read_text(encoding="utf-8")
    assert "resnet50-random-init" in report and report.count("data:image/png;base64,") == 2
    for figure in ("downstream_auc.png", "downstream_probability_scatter.png"):
        assert (project / "data/08_reporting" / figure).stat().st_size > 10_000
    client, runs = mlflow_runs(project)
    run = runs[-1]
    results = _reporting(project, "downstream_results.csv")
    row = results.query("extractor == 'fm' and feature_set == 'features' and harmonisation == 'none' "
                        "and task == 'solid_vs_subsolid' and kernel == 'sharp' and slice_thickness_mm == 2.0").iloc[0]
    metrics = run.data.metrics
    assert metrics["downstream.fm.solid_vs_subsolid.sharp_2.0.auc"] == pytest.approx(row.auc)
    assert metrics["downstream.fm.solid_vs_subsolid.sharp_2.0.flip_share"] == pytest.approx(row.flip_share)
    expected = {
        "downstream.radiomics.spiculated_vs_not.medium_1.0.auc_ci_low",
        "downstream.fm_negative_control.solid_vs_subsolid.smooth_2.0.delta_auc",
        "downstream.volume.solid_vs_subsolid.sharp_1.0.auc",
        "downstream_combat.fm.solid_vs_subsolid.sharp_2.0.probability_ccc",
        "downstream_combat.agreement.radiomics.sharp_2.0.mean_ccc",
    }
    assert expected <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    assert run.data.tags["fm.label"] == "resnet50-random-init"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"downstream_results.csv", "downstream_report.html", "downstream_auc.png"} <= artifacts
