"""The size baseline: nodule volume measured on each scan's own mask, per condition."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import feature_table, require_partitions

VOLUME_FEATURE = "mask_volume_mm3"


def mask_volume_mm3(mask: sitk.Image) -> float:
    """Mask voxel count x voxel volume (mm^3)."""
    return int(np.count_nonzero(sitk.GetArrayViewFromImage(mask))) * float(np.prod(mask.GetSpacing()))


def volume_table(scans: ScanTable, radiomics_regions: dict[str, Callable[[], sitk.Image]]) -> pd.DataFrame:
    """One row per scan: the id columns and ``mask_volume_mm3`` of its radiomics region mask
    (the region PyRadiomics reads, so the volume changes with the condition as the mask does)."""
    order = list(scans.frame["scan_id"])
    require_partitions(radiomics_regions, [f"{s}/mask" for s in order], "radiomics_regions")
    values = np.array([[mask_volume_mm3(radiomics_regions[f"{s}/mask"]())] for s in order])
    return feature_table(scans, values, [VOLUME_FEATURE])
