"""Downstream pipeline: from the persisted features (and, for the negative control, the cubes
and regions) to cross-validated task performance under every condition."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.downstream.nodes import (
    build_labels,
    build_report,
    compare_agreement_after_combat,
    evaluate_downstream,
    extract_fm_negative_control,
    extract_radiomics_negative_control,
    measure_volumes,
    metrics_for_tracking,
    plot_auc,
    plot_probability_scatter,
)

_LABELS = ["fm_extractor", "radiomics_extractor"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(build_labels, ["downstream_phantom_truth", "input_manifest", "nodule_list", "params:ingestion",
                                "params:downstream"], ["downstream_labels", "downstream_label_summary"],
                 name="build_downstream_labels"),
            Node(measure_volumes, ["scans", "radiomics_regions"], "downstream_volume_features",
                 name="measure_nodule_volumes"),
            Node(extract_fm_negative_control, ["scans", "fm_cubes", "fm_extractor", "params:fm", "params:downstream"],
                 "downstream_fm_negative_control", name="extract_fm_negative_control"),
            Node(extract_radiomics_negative_control, ["scans", "radiomics_regions", "params:radiomics",
                                                      "params:downstream"],
                 "downstream_radiomics_negative_control", name="extract_radiomics_negative_control"),
            Node(evaluate_downstream,
                 ["fm_features", "radiomics_features", "downstream_fm_negative_control",
                  "downstream_radiomics_negative_control", "downstream_volume_features", "downstream_labels",
                  *_LABELS, "params:agreement", "params:downstream"],
                 ["downstream_results", "downstream_predictions"], name="evaluate_downstream"),
            Node(compare_agreement_after_combat, ["fm_features", "radiomics_features", "params:agreement",
                                                  "params:downstream"],
                 "downstream_combat_study", name="compare_agreement_after_combat"),
            Node(plot_auc, ["downstream_results", *_LABELS], "downstream_auc_plot", name="plot_downstream_auc"),
            Node(plot_probability_scatter, ["downstream_predictions", *_LABELS, "params:agreement"],
                 "downstream_probability_scatter", name="plot_downstream_probability_scatter"),
            Node(build_report, ["downstream_results", "downstream_label_summary", "downstream_combat_study",
                                "downstream_predictions", *_LABELS, "params:agreement", "params:downstream"],
                 "downstream_report", name="build_downstream_report"),
            Node(metrics_for_tracking, ["downstream_results", "downstream_combat_study"], "downstream_metrics",
                 name="downstream_metrics"),
        ]
    )
