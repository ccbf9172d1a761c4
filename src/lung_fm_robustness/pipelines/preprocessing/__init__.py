"""Preprocessing: FMCIB input cubes and PyRadiomics image/mask regions per scan."""
from lung_fm_robustness.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
