"""Radiomics feature nodes: PyRadiomics on each scan's nodule region (per-scan work run by
the ``params:compute`` executor, saved per scan, resumable), then the study's table."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import radiomics
import SimpleITK as sitk

from lung_fm_robustness.compute import ComputeSettings, ScanWork, Task, fingerprint
from lung_fm_robustness.datasets.feature_row import stack_feature_rows
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import feature_table, require_partitions
from lung_fm_robustness.pipelines.radiomics_features.scan_tasks import radiomics_row
from lung_fm_robustness.radiomics_extraction import build_extractor, radiomics_settings_summary

logger = logging.getLogger(__name__)


def extract_radiomics_features(
    scans: ScanTable,
    radiomics_regions: dict[str, Callable[[], sitk.Image]],
    config: dict[str, Any],
    compute: dict[str, Any],
) -> tuple[ScanWork, dict[str, Any]]:
    """The work computing the configured PyRadiomics features per scan (saved per scan as it
    completes), and the extractor's identity and settings."""
    order = list(scans.frame["scan_id"])
    require_partitions(radiomics_regions, [f"{s}/{part}" for s in order for part in ("image", "mask")], "radiomics_regions")
    extractor = build_extractor(config)  # validates the configuration before any work
    info = {
        "label": f"pyradiomics-{radiomics.__version__.lstrip('v')}",
        "settings": radiomics_settings_summary(extractor),
    }
    tasks = {}
    for scan in order:
        image, mask = radiomics_regions[f"{scan}/image"], radiomics_regions[f"{scan}/mask"]
        identity = fingerprint(
            "radiomics_features", info, getattr(image, "fingerprint", None), getattr(mask, "fingerprint", None)
        )
        tasks[scan] = Task(radiomics_row, (scan, image, mask, config), identity)
    return ScanWork("radiomics features", tasks, ComputeSettings.from_params(compute)), info


def collect_radiomics_features(
    scans: ScanTable, radiomics_feature_rows: dict[str, Callable[[], pd.Series]]
) -> pd.DataFrame:
    """The per-scan PyRadiomics rows as the study's ``radiomics_features`` table."""
    values, names = stack_feature_rows(
        radiomics_feature_rows, list(scans.frame["scan_id"]), "radiomics_feature_rows"
    )
    return feature_table(scans, values, names)
