"""Phantom QA pipeline: from the phantom's parameters to its measured image quality."""

from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.phantom_qa.nodes import (
    draw_nodule_gallery,
    measure_phantom,
    plot_qa_curves,
    qa_metrics_for_tracking,
)

_PHANTOM = "params:ingestion.phantom"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                measure_phantom,
                [_PHANTOM, "params:phantom_qa"],
                ["phantom_qa_table", "phantom_qa_curves"],
                name="measure_phantom",
            ),
            Node(
                plot_qa_curves,
                ["phantom_qa_curves", "phantom_qa_table", _PHANTOM],
                "phantom_qa_plot",
                name="plot_phantom_qa",
            ),
            Node(
                qa_metrics_for_tracking,
                "phantom_qa_table",
                "phantom_qa_metrics",
                name="phantom_qa_metrics",
            ),
            Node(
                draw_nodule_gallery, _PHANTOM, "phantom_nodule_gallery", name="draw_nodule_gallery"
            ),
        ]
    )
