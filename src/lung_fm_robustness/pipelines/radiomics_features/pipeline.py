"""Radiomics features pipeline: nodule regions in, one row of PyRadiomics features per scan out."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.radiomics_features.nodes import extract_radiomics_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_radiomics_features,
                ["scans", "radiomics_regions", "params:radiomics"],
                ["radiomics_features", "radiomics_extractor"],
                name="extract_radiomics_features",
            )
        ]
    )
