"""Ingestion: the embedded CT phantom, the user's manifest or DICOM folder, into one validated
scan table with a nodule mask per scan."""

from lung_fm_robustness.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
