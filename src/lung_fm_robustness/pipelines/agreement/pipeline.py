"""Agreement pipeline: from the persisted feature tables to the study's tables, figure and report."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.agreement.nodes import (
    break_down_by_feature_class,
    bootstrap_summaries,
    build_report,
    compare_kernel_and_thickness,
    compute_feature_agreement,
    metrics_for_tracking,
    plot_ccc_distributions,
    render_study_table,
    summarise,
)

_FEATURES = ["fm_features", "radiomics_features"]
_LABELS = ["fm_extractor", "radiomics_extractor"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compute_feature_agreement,
                [*_FEATURES, "params:agreement"],
                "agreement_per_feature",
                name="compute_feature_agreement",
            ),
            Node(
                summarise,
                ["agreement_per_feature", "params:agreement"],
                "agreement_summary",
                name="summarise_agreement",
            ),
            Node(
                bootstrap_summaries,
                [*_FEATURES, "agreement_per_feature", "params:agreement"],
                "agreement_summary_ci",
                name="bootstrap_summaries",
            ),
            Node(
                break_down_by_feature_class,
                ["agreement_per_feature", "params:agreement"],
                "agreement_by_feature_class",
                name="break_down_by_feature_class",
            ),
            Node(
                compare_kernel_and_thickness,
                ["agreement_summary", "params:agreement"],
                "agreement_kernel_vs_thickness",
                name="compare_kernel_and_thickness",
            ),
            Node(
                render_study_table,
                ["agreement_summary", "agreement_per_feature", *_LABELS, "params:agreement"],
                "agreement_table",
                name="render_study_table",
            ),
            Node(
                plot_ccc_distributions,
                ["agreement_per_feature", *_LABELS, "params:agreement"],
                "ccc_distribution_plot",
                name="plot_ccc_distributions",
            ),
            Node(
                build_report,
                [
                    "agreement_per_feature",
                    "agreement_summary_ci",
                    "agreement_by_feature_class",
                    "agreement_kernel_vs_thickness",
                    "radiomics_features",
                    *_LABELS,
                    "scans",
                    "params:agreement",
                ],
                "agreement_report",
                name="build_agreement_report",
            ),
            Node(
                metrics_for_tracking,
                ["agreement_summary", "agreement_summary_ci"],
                "agreement_metrics",
                name="agreement_metrics",
            ),
        ]
    )
