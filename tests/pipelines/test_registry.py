"""The stages are registered by name and connect only through persisted catalog entries."""
from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import configure_project

from lung_fm_robustness.pipeline_registry import register_pipelines

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["ingestion", "preprocessing", "fm_features", "radiomics_features", "agreement", "phantom_qa"]


def _catalog_names() -> set[str]:
    configure_project("lung_fm_robustness")
    loader = OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="local")
    return set(loader["catalog"])


def test_stages_are_registered_and_default_is_all_of_them():
    pipelines = register_pipelines()
    assert set(pipelines) == {*STAGES, "__default__", "downstream"}  # downstream: by name only
    assert set(pipelines["__default__"].nodes) == {n for s in STAGES for n in pipelines[s].nodes}


def test_every_dataset_is_persisted_in_the_catalog():
    declared = _catalog_names()
    used = register_pipelines()["__default__"].datasets()
    assert {d for d in used if not d.startswith("params:")} <= declared


def test_stages_feed_each_other_in_study_order():
    pipelines = register_pipelines()
    produced: set[str] = set()
    for stage in STAGES:
        inputs = {d for d in pipelines[stage].inputs() if not d.startswith("params:")}
        assert inputs - produced <= {"input_manifest", "dicom_folder", "nodule_list"}, stage
        produced |= pipelines[stage].all_outputs()
