"""Project pipelines: the five stages by name; ``__default__`` runs the whole study."""
from __future__ import annotations

from kedro.pipeline import Pipeline

from lung_fm_robustness.pipelines import agreement, fm_features, ingestion, preprocessing, radiomics_features

STAGES = {
    "ingestion": ingestion,
    "preprocessing": preprocessing,
    "fm_features": fm_features,
    "radiomics_features": radiomics_features,
    "agreement": agreement,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
