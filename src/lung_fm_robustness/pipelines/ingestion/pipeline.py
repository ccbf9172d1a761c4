"""Ingestion pipeline: simulate (or skip) the phantom, register and validate the scans, make
the nodule masks."""

from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.ingestion.nodes import (
    make_nodule_masks,
    register_scans,
    simulate_phantom_study,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                simulate_phantom_study,
                inputs=["params:ingestion", "params:compute"],
                outputs=["phantom_volumes", "phantom_manifest", "nodule_truth"],
                name="simulate_phantom_study",
            ),
            Node(
                register_scans,
                inputs=[
                    "phantom_manifest",
                    "input_manifest",
                    "dicom_folder",
                    "nodule_list",
                    "params:ingestion",
                    "params:kernel_classes",
                    "params:agreement",
                ],
                outputs=["registered_scans", "ingestion_issues", "ingestion_summary", "ingestion_metrics"],
                name="register_scans",
            ),
            Node(
                make_nodule_masks,
                inputs=["registered_scans", "params:ingestion", "params:agreement"],
                outputs=["nodule_masks", "scans"],
                name="make_nodule_masks",
            ),
        ]
    )
