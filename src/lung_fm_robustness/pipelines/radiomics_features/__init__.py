"""Radiomics features: PyRadiomics intensity and texture features per scan."""
from lung_fm_robustness.pipelines.radiomics_features.pipeline import create_pipeline

__all__ = ["create_pipeline"]
