"""Preprocessing pipeline: FMCIB cubes (and their montage) and PyRadiomics regions from the
scan table; with ``fm.compare_resampling``, the cubes in the other resampling mode too."""
from kedro.pipeline import Node, Pipeline

from lung_fm_robustness.pipelines.preprocessing.nodes import (
    plot_fm_cube_montage,
    prepare_fm_cubes,
    prepare_fm_cubes_other_resampling,
    prepare_radiomics_regions,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(prepare_fm_cubes, ["scans", "params:fm", "params:compute"], "fm_cubes", name="prepare_fm_cubes"),
            Node(
                prepare_fm_cubes_other_resampling,
                ["scans", "params:fm", "params:compute"],
                "fm_cubes_other_resampling",
                name="prepare_fm_cubes_other_resampling",
            ),
            Node(
                plot_fm_cube_montage,
                ["scans", "fm_cubes", "params:fm"],
                "fm_cube_montage",
                name="plot_fm_cube_montage",
            ),
            Node(
                prepare_radiomics_regions,
                ["scans", "params:preprocessing", "params:compute"],
                "radiomics_regions",
                name="prepare_radiomics_regions",
            ),
        ]
    )
