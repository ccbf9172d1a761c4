"""Phantom QA: the embedded phantom measures its own images against its specification."""

from lung_fm_robustness.pipelines.phantom_qa.pipeline import create_pipeline

__all__ = ["create_pipeline"]
