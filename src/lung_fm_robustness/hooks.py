"""Project hooks: the user's input paths, a friendly stop on missing inputs, MLflow labels."""
from __future__ import annotations

import logging
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline

from lung_fm_robustness.datasets.dicom_folder import DicomFolderDataset
from lung_fm_robustness.datasets.nodule_csv import NoduleCsvDataset
from lung_fm_robustness.datasets.scan_manifest import ScanManifestDataset

logger = logging.getLogger(__name__)

EXTRACTOR_DATASETS = {"fm_extractor": "fm", "radiomics_extractor": "radiomics"}


class InputManifestHook:
    """Points the user's input datasets at their path parameters: ``input_manifest`` at
    ``ingestion.manifest_path``, ``dicom_folder`` at ``ingestion.dicom_root`` and
    ``nodule_list`` at ``ingestion.nodules_csv``.

    The paths are parameters so ``--params ingestion.dicom_root=...`` works; the files are
    still read through the catalog, never by a node.
    """

    @hook_impl
    def after_catalog_created(self, catalog: CatalogProtocol, parameters: dict[str, Any]) -> None:
        ingestion = parameters["parameters"].get("ingestion", {})
        for dataset, key, make in (
            ("input_manifest", "manifest_path", lambda p: ScanManifestDataset(filepath=p)),
            ("dicom_folder", "dicom_root", lambda p: DicomFolderDataset(path=p)),
            ("nodule_list", "nodules_csv", lambda p: NoduleCsvDataset(filepath=p)),
        ):
            if ingestion.get(key):
                catalog[dataset] = make(str(ingestion[key]))


class MissingInputsHook:
    """Stops a partial run whose inputs an earlier stage should have made, in one line."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        produced = pipelines["__default__"].all_outputs()
        missing = sorted(
            name for name in pipeline.inputs() & produced if not catalog.exists(name)
        )
        if missing:
            raise SystemExit(
                f"Missing input(s) {', '.join(missing)}: run `kedro run` first to compute the "
                "whole study, then re-run this pipeline."
            )


class MlflowLabelsHook:
    """Tags the MLflow run with what each extractor was (label, weights sha256, resampling)."""

    @hook_impl
    def after_node_run(self, node: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        for dataset, extractor in EXTRACTOR_DATASETS.items():
            info = outputs.get(dataset, inputs.get(dataset))
            if info is not None:
                mlflow.set_tags(extractor_tags(extractor, info))


def extractor_tags(extractor: str, info: dict[str, Any]) -> dict[str, str]:
    """MLflow tags for one extractor's identity dict; nested settings are left to artifacts."""
    return {
        f"{extractor}.{key}": str(value)
        for key, value in info.items()
        if value is not None and not isinstance(value, dict)
    }
