"""Radiomics feature nodes: PyRadiomics on each scan's nodule region."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import radiomics
import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import feature_table, require_partitions
from lung_fm_robustness.progress import ScanProgress
from lung_fm_robustness.radiomics_extraction import build_extractor, extract_radiomics, radiomics_settings_summary

logger = logging.getLogger(__name__)


def extract_radiomics_features(
    scans: ScanTable, radiomics_regions: dict[str, Callable[[], sitk.Image]], config: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The configured PyRadiomics features per scan and the extractor's identity and settings."""
    order = list(scans.frame["scan_id"])
    require_partitions(radiomics_regions, [f"{s}/{part}" for s in order for part in ("image", "mask")], "radiomics_regions")
    extractor = build_extractor(config)
    progress = ScanProgress("radiomics features", len(order), logger)
    rows = []
    for scan in order:
        rows.append(extract_radiomics(extractor, radiomics_regions[f"{scan}/image"](), radiomics_regions[f"{scan}/mask"]()))
        progress.step()
    values = pd.DataFrame(rows)
    info = {
        "label": f"pyradiomics-{radiomics.__version__.lstrip('v')}",
        "settings": radiomics_settings_summary(extractor),
    }
    return feature_table(scans, values.to_numpy(dtype=float), values.columns), info
