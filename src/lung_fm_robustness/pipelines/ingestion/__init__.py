"""Ingestion: the embedded CT phantom or the user's manifest, into one validated scan table."""
from lung_fm_robustness.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
