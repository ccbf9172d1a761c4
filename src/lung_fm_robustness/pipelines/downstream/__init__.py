"""Downstream pipeline: clinically relevant tasks trained on the reference reconstruction."""
from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
