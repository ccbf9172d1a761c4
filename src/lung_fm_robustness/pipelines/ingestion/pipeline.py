"""Ingestion pipeline: simulate (or skip) the phantom, then register the scans."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.ingestion.nodes import register_scans, simulate_phantom_study


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                simulate_phantom_study,
                inputs="params:ingestion",
                outputs=["phantom_images", "phantom_masks", "phantom_manifest", "nodule_truth"],
                name="simulate_phantom_study",
            ),
            Node(
                register_scans,
                inputs=["phantom_manifest", "input_manifest", "params:ingestion"],
                outputs="scans",
                name="register_scans",
            ),
        ]
    )
