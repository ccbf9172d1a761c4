"""Radiomics features pipeline: nodule regions in, one row of PyRadiomics features per scan
(saved per scan), then the study's table."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.radiomics_features.nodes import (
    collect_radiomics_features,
    extract_radiomics_features,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_radiomics_features,
                ["scans", "radiomics_regions", "params:radiomics", "params:compute"],
                ["radiomics_feature_rows", "radiomics_extractor"],
                name="extract_radiomics_features",
            ),
            Node(
                collect_radiomics_features,
                ["scans", "radiomics_feature_rows"],
                "radiomics_features",
                name="collect_radiomics_features",
            ),
        ]
    )
