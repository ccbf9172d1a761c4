"""FM features pipeline: cubes in, one 4,096-column row per scan out."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.fm_features.nodes import extract_fm_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_fm_features,
                ["scans", "fm_cubes", "params:fm"],
                ["fm_features", "fm_extractor"],
                name="extract_fm_features",
            )
        ]
    )
