"""Agreement: Lin's CCC of every feature against the reference reconstruction."""
from lung_fm_robustness.pipelines.agreement.pipeline import create_pipeline

__all__ = ["create_pipeline"]
