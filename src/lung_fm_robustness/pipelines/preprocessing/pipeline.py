"""Preprocessing pipeline: FMCIB cubes and PyRadiomics regions from the scan table."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.preprocessing.nodes import prepare_fm_cubes, prepare_radiomics_regions


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(prepare_fm_cubes, ["scans", "params:fm"], "fm_cubes", name="prepare_fm_cubes"),
            Node(
                prepare_radiomics_regions,
                ["scans", "params:preprocessing"],
                "radiomics_regions",
                name="prepare_radiomics_regions",
            ),
        ]
    )
