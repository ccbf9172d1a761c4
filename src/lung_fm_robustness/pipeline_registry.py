"""Project pipelines by name: the five study stages and phantom_qa; ``__default__`` runs all of
them. ``downstream`` (tasks trained on the reference condition) is registered by name only."""
from __future__ import annotations

from kedro.pipeline import Pipeline

from lung_fm_robustness.pipelines import (
    agreement,
    downstream,
    fm_features,
    ingestion,
    phantom_qa,
    preprocessing,
    radiomics_features,
)

STAGES = {
    "ingestion": ingestion,
    "preprocessing": preprocessing,
    "fm_features": fm_features,
    "radiomics_features": radiomics_features,
    "agreement": agreement,
    "phantom_qa": phantom_qa,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    pipelines["downstream"] = downstream.create_pipeline()
    return pipelines
