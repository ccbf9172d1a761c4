"""FM features pipeline: cubes in, one 4,096-column row per scan out; with
``fm.compare_resampling``, also the other resampling mode's features and the comparison."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.fm_features.nodes import (
    collect_fm_features,
    compare_fm_resampling,
    extract_fm_features,
    extract_fm_features_other_resampling,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_fm_features,
                ["scans", "fm_cubes", "params:fm", "params:compute"],
                ["fm_feature_rows", "fm_extractor"],
                name="extract_fm_features",
            ),
            Node(collect_fm_features, ["scans", "fm_feature_rows"], "fm_features", name="collect_fm_features"),
            Node(
                extract_fm_features_other_resampling,
                ["scans", "fm_cubes_other_resampling", "params:fm", "params:compute"],
                "fm_features_other_resampling",
                name="extract_fm_features_other_resampling",
            ),
            Node(
                compare_fm_resampling,
                [
                    "fm_features",
                    "fm_features_other_resampling",
                    "fm_extractor",
                    "params:fm",
                    "params:agreement",
                ],
                ["fm_resampling_comparison", "fm_resampling_comparison_table"],
                name="compare_fm_resampling",
            ),
        ]
    )
