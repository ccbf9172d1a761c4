"""The downstream pipeline is registered by name (not in ``__default__``), persists every
dataset in the catalog, and reads only what the study stages write."""
from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import configure_project

from lung_fm_robustness.pipeline_registry import register_pipelines

ROOT = Path(__file__).resolve().parents[2]
USER_INPUTS = {"input_manifest", "nodule_list", "downstream_phantom_truth"}


def _config(key: str) -> dict:
    configure_project("lung_fm_robustness")
    return OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env="local")[key]


def test_downstream_is_registered_by_name_only():
    pipelines = register_pipelines()
    assert "downstream" in pipelines
    assert not set(pipelines["downstream"].nodes) & set(pipelines["__default__"].nodes)


def test_every_downstream_dataset_is_in_the_catalog_and_its_inputs_come_from_the_study():
    pipelines = register_pipelines()
    catalog = set(_config("catalog"))
    downstream = pipelines["downstream"]
    assert {d for d in downstream.datasets() if not d.startswith("params:")} <= catalog
    external = {d for d in downstream.inputs() if not d.startswith("params:")}
    assert external - USER_INPUTS <= pipelines["__default__"].all_outputs()


def test_parameters_have_every_key_the_nodes_read():
    downstream = _config("parameters")["downstream"]
    assert {"tasks", "label_columns", "n_folds", "seed", "model", "confidence", "flip_threshold",
            "negative_control", "combat"} <= set(downstream)
    assert {"C", "pca_components", "max_iter"} <= set(downstream["model"])


def test_labels_keep_patient_ids_as_text(tmp_path):
    import pandas as pd
    from kedro.io import DataCatalog

    entry = dict(_config("catalog")["downstream_labels"], filepath=str(tmp_path / "labels.csv"))
    catalog = DataCatalog.from_config({"downstream_labels": entry})
    catalog.save("downstream_labels", pd.DataFrame({"task": "t", "patient_id": ["001", "010"], "label": [1, 0]}))
    assert catalog.load("downstream_labels")["patient_id"].tolist() == ["001", "010"]
