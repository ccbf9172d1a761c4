"""The whole study through `kedro run` on a tiny phantom, in a temporary copy of the project.

Checks what a user sees: the summary of every non-reference condition for both extractors,
numbers that agree with an independent CCC, one MLflow run per `kedro run` with metrics and
labels, a second run of the agreement pipeline with other parameters, a one-line stop when
feature tables are missing, kedro-viz's build, and the results notebook.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
N_PATIENTS = 5
KERNELS = ("smooth", "medium", "sharp")
THICKNESSES = (1.0, 2.0)
SUMMARY_COLUMNS = [
    "extractor", "kernel", "slice_thickness_mm", "n_features", "n_undefined",
    "mean_ccc", "median_ccc", "pct_strong", "threshold",
]

pytestmark = pytest.mark.slow


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=project, env=env, capture_output=True, text=True, timeout=1200
    )


def copy_project(target: Path) -> Path:
    for item in ("conf", "notebooks", "src"):
        shutil.copytree(ROOT / item, target / item, ignore=shutil.ignore_patterns("local", "__pycache__", ".ipynb_checkpoints"))
    (target / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", target)
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature", "08_reporting"):
        (target / "data" / layer).mkdir(parents=True)
    return target


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("study"))
    result = kedro(project, "run", "--params", f"ingestion.phantom.n_patients={N_PATIENTS},fm.batch_size=4")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def mlflow_runs(project: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("lung_fm_robustness")
    return client, client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def independent_ccc(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x) / n
    syy = sum((b - my) ** 2 for b in y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y)) / n
    return 2 * sxy / (sxx + syy + (mx - my) ** 2)


def test_summary_covers_every_condition_of_both_extractors(study):
    summary = pd.read_csv(study / "data/08_reporting/agreement_summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    expected = {(k, t) for k in KERNELS for t in THICKNESSES} - {("medium", 1.0)}
    for extractor in ("fm", "radiomics"):
        rows = summary[summary["extractor"] == extractor]
        assert set(zip(rows["kernel"], rows["slice_thickness_mm"])) == expected
    assert (summary.loc[summary["extractor"] == "fm", "n_features"] == 4096).all()
    assert (summary.loc[summary["extractor"] == "radiomics", "n_features"] == 93).all()
    assert summary["pct_strong"].between(0, 100).all() and (summary["threshold"] == 0.9).all()
    table = (study / "data/08_reporting/agreement_table.md").read_text(encoding="utf-8")
    assert "resnet50-random-init" in table and "pyradiomics" in table
    assert (study / "data/08_reporting/ccc_distributions.png").stat().st_size > 10_000


def test_summary_numbers_match_an_independent_ccc(study):
    features = pd.read_parquet(study / "data/04_feature/radiomics_features.parquet")
    summary = pd.read_csv(study / "data/08_reporting/agreement_summary.csv")
    per_feature = pd.read_parquet(study / "data/08_reporting/agreement_per_feature.parquet")
    reference = features[(features.kernel == "medium") & (features.slice_thickness_mm == 1.0)].set_index("patient_id")
    test = features[(features.kernel == "sharp") & (features.slice_thickness_mm == 2.0)].set_index("patient_id")
    test = test.loc[reference.index]
    cccs = {}
    for name in [c for c in features.columns if c.startswith("original_")]:
        x, y = reference[name].to_numpy(float), test[name].to_numpy(float)
        if np.var(x) + np.var(y) > 0:
            cccs[name] = independent_ccc(x, y)
    ours = per_feature[(per_feature.extractor == "radiomics") & (per_feature.kernel == "sharp") & (per_feature.slice_thickness_mm == 2.0)]
    ours = ours.set_index("feature")["ccc"]
    np.testing.assert_allclose([ours[k] for k in cccs], list(cccs.values()), rtol=1e-9, atol=1e-12)
    row = summary[(summary.extractor == "radiomics") & (summary.kernel == "sharp") & (summary.slice_thickness_mm == 2.0)].iloc[0]
    assert row["mean_ccc"] == pytest.approx(np.mean(list(cccs.values())), abs=1e-9)
    assert row["pct_strong"] == pytest.approx(100 * np.mean(np.array(list(cccs.values())) >= 0.9), abs=1e-9)
    assert row["n_undefined"] == 93 - len(cccs)


def test_the_run_is_tracked_in_mlflow_with_metrics_labels_and_artifacts(study):
    client, runs = mlflow_runs(study)
    run = runs[0]
    assert run.data.metrics["fm.smooth_2.0.mean_ccc"] == pytest.approx(
        pd.read_csv(study / "data/08_reporting/agreement_summary.csv").query("extractor == 'fm' and kernel == 'smooth' and slice_thickness_mm == 2.0")["mean_ccc"].iloc[0]
    )
    assert {f"radiomics.sharp_1.0.pct_strong", "fm.medium_2.0.pct_strong"} <= set(run.data.metrics)
    assert run.data.tags["fm.label"] == "resnet50-random-init"
    assert run.data.tags["radiomics.label"].startswith("pyradiomics-")
    assert run.data.params["ingestion.source"] == "phantom"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"agreement_summary.csv", "agreement_table.md", "ccc_distributions.png"} <= artifacts


def test_agreement_pipeline_reruns_with_other_parameters_as_a_new_run(study):
    result = kedro(study, "run", "--pipelines", "agreement", "--params", "agreement.threshold=0.5,agreement.reference.kernel=sharp")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(study / "data/08_reporting/agreement_summary.csv")
    assert (summary["threshold"] == 0.5).all()
    assert ("medium", 1.0) in set(zip(summary["kernel"], summary["slice_thickness_mm"]))
    assert ("sharp", 1.0) not in set(zip(summary["kernel"], summary["slice_thickness_mm"]))
    _, runs = mlflow_runs(study)
    assert len(runs) == 2
    assert runs[1].data.params["agreement.reference.kernel"] == "sharp"
    assert runs[1].data.tags["fm.label"] == "resnet50-random-init"
    assert "fm.medium_1.0.mean_ccc" in runs[1].data.metrics


def test_kedro_viz_build_shows_the_study(study):
    result = kedro(study, "viz", "build")
    main = study / "build" / "api" / "main"
    assert main.is_file(), result.stdout[-2000:] + result.stderr[-2000:]
    text = main.read_text(encoding="utf-8")
    for name in ("scans", "fm_cubes", "radiomics_regions", "fm_features", "agreement_summary"):
        assert f'"{name}"' in text


def test_notebook_draws_the_main_figure_from_the_catalog(study):
    path = study / "notebooks" / "study_results.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("resnet50-random-init" in str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs)


def test_agreement_without_feature_tables_stops_with_one_line(tmp_path):
    project = copy_project(tmp_path)
    result = kedro(project, "run", "--pipelines", "agreement")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Missing input(s) ") and "run `kedro run` first" in message
    assert "fm_features" in message and "radiomics_features" in message


def test_a_manifest_of_the_same_scans_gives_the_same_features(study, tmp_path):
    """The user's way in: the phantom's files, moved elsewhere and listed in a manifest."""
    project = copy_project(tmp_path / "project")
    shutil.copytree(study / "data/01_raw/phantom", tmp_path / "scans")
    manifest = tmp_path / "scans" / "manifest.csv"
    result = kedro(
        project, "run", "--params", f"ingestion.source=manifest,ingestion.manifest_path={manifest},fm.batch_size=4"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scans = pd.read_parquet(project / "data/02_intermediate/scans.parquet")
    assert (scans["source"] == "manifest").all()
    assert scans["image_path"].str.startswith(str(tmp_path / "scans")).all()
    for table in ("fm_features", "radiomics_features"):
        ours = pd.read_parquet(project / f"data/04_feature/{table}.parquet")
        pd.testing.assert_frame_equal(ours, pd.read_parquet(study / f"data/04_feature/{table}.parquet"))
