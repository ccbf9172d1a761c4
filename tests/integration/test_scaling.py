"""The per-scan stages through Kedro on every compute backend, in a temporary copy of the
project: identical feature tables from sequential, a spawned process pool and a real Dask
``LocalCluster``; a run cut short resumes with only the missing scans and ends with the
tables of an uninterrupted run; a changed parameter recomputes only what depends on it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from lung_fm_robustness.compute.executors import close_executors
from lung_fm_robustness.pipeline_registry import register_pipelines
from tests.integration.test_kedro_run import copy_project

pytestmark = pytest.mark.slow

N_PATIENTS = 2
STAGES = ["ingestion", "preprocessing", "fm_features", "radiomics_features"]
PER_SCAN = ("data/03_primary/fm_cubes", "data/03_primary/radiomics_regions",
            "data/04_feature/fm_feature_rows", "data/04_feature/radiomics_feature_rows")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("scaling"))


def run_stages(project: Path, monkeypatch, backend: str, **params) -> dict[str, pd.DataFrame]:
    """The per-scan stages with Kedro's runner and the project's catalog and parameters (as
    ``kedro run --pipelines ...`` without the MLflow hooks: one process, several runs), in
    the project's folder; the two feature tables."""
    monkeypatch.chdir(project)
    runtime = {"ingestion": {"phantom": {"n_patients": N_PATIENTS}},
               "compute": {"backend": backend, "n_workers": 2, "threads_per_worker": 1}, **params}
    config = OmegaConfigLoader(str(project / "conf"), base_env="base", default_run_env="local",
                               runtime_params=runtime)
    catalog = DataCatalog.from_config(config["catalog"])
    for name in list(catalog.keys()):
        if type(catalog.get(name)).__module__.startswith("kedro_mlflow"):
            catalog[name] = MemoryDataset()  # MLflow artifacts and metrics: no run here
    for name, value in config["parameters"].items():
        catalog[f"params:{name}"] = value
    pipeline = sum((register_pipelines()[stage] for stage in STAGES), Pipeline([]))
    try:
        SequentialRunner().run(pipeline, catalog)
    finally:
        close_executors()
    return {name: pd.read_parquet(project / f"data/04_feature/{name}.parquet")
            for name in ("fm_features", "radiomics_features")}


def clear_data(project: Path) -> None:
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature"):
        shutil.rmtree(project / "data" / layer)
        (project / "data" / layer).mkdir()


def records(project: Path) -> dict[str, int]:
    """Every per-scan record and its modification time (ns): rewritten means recomputed."""
    return {str(p.relative_to(project)): p.stat().st_mtime_ns
            for folder in ("data/01_raw/phantom", *PER_SCAN)
            for p in (project / folder / ".fingerprints").glob("*.json")}


def test_features_identical_on_every_backend(project, monkeypatch):
    clear_data(project)
    sequential = run_stages(project, monkeypatch, "sequential")
    n_scans = N_PATIENTS * 6
    assert len(sequential["fm_features"]) == len(sequential["radiomics_features"]) == n_scans
    assert sequential["fm_features"].filter(like="fm_").shape[1] == 4096
    for backend in ("processes", "dask"):
        clear_data(project)
        tables = run_stages(project, monkeypatch, backend)
        for name, table in tables.items():
            pd.testing.assert_frame_equal(table, sequential[name], check_exact=True, obj=f"{name} ({backend})")


def test_interrupted_run_resumes_with_only_the_missing_scans(project, monkeypatch):
    clear_data(project)
    complete = run_stages(project, monkeypatch, "sequential")
    written = records(project)
    # What a run killed part-way leaves: some scans never recorded in each per-scan stage
    # (their partitions written or not) and a temporary file from an interrupted write.
    lost = []
    for folder in PER_SCAN:
        for record in sorted((project / folder / ".fingerprints").glob("*.json"))[::3]:
            record.unlink()
            lost.append(str(record.relative_to(project)))
    (project / "data/03_primary/fm_cubes/.tmp-killed.mha").write_bytes(b"half a cube")
    for name in ("fm_features", "radiomics_features"):
        (project / f"data/04_feature/{name}.parquet").unlink()

    resumed = run_stages(project, monkeypatch, "sequential")
    after = records(project)
    recomputed = {r for r in after if after[r] != written.get(r)}
    # Only the lost ones: a recomputed cube has the same fingerprint (same inputs), so the
    # FM rows read from it are not recomputed.
    assert recomputed == set(lost)
    assert set(after) == set(written)
    assert not (project / "data/03_primary/fm_cubes/.tmp-killed.mha").exists()  # cleaned up, never read
    for name, table in resumed.items():
        pd.testing.assert_frame_equal(table, complete[name], check_exact=True, obj=name)


def test_changed_parameter_recomputes_only_what_depends_on_it(project, monkeypatch):
    if not (project / "data/04_feature/fm_features.parquet").is_file():
        run_stages(project, monkeypatch, "sequential")
    before = records(project)
    tables = run_stages(project, monkeypatch, "sequential", preprocessing={"radiomics_margin_mm": 20.0})
    after = records(project)
    changed = {r for r in after if after[r] != before.get(r)}
    regions = {r for r in after if "radiomics" in r}
    assert changed == regions and len(regions) == 2 * N_PATIENTS * 6  # regions and their rows only
    assert len(tables["radiomics_features"]) == N_PATIENTS * 6
