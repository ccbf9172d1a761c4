"""Agreement pipeline: from the persisted feature tables to the study's table and figure."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.agreement.nodes import (
    compute_feature_agreement,
    metrics_for_tracking,
    plot_ccc_distributions,
    render_study_table,
    summarise,
)

_LABELS = ["fm_extractor", "radiomics_extractor"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compute_feature_agreement,
                ["fm_features", "radiomics_features", "params:agreement"],
                "agreement_per_feature",
                name="compute_feature_agreement",
            ),
            Node(summarise, ["agreement_per_feature", "params:agreement"], "agreement_summary", name="summarise_agreement"),
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
            Node(metrics_for_tracking, "agreement_summary", "agreement_metrics", name="agreement_metrics"),
        ]
    )
