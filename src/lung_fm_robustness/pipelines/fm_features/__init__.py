"""FM features: 4,096 FMCIB (or random-init control) features per scan."""
from lung_fm_robustness.pipelines.fm_features.pipeline import create_pipeline

__all__ = ["create_pipeline"]
