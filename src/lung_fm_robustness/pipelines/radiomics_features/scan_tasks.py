"""Per-scan PyRadiomics work, run by any compute backend: one nodule region in, one feature
row out. Each worker process builds the extractor once per configuration and keeps it."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pandas as pd
import SimpleITK as sitk
from radiomics import featureextractor

from lung_fm_robustness.radiomics_extraction import build_extractor, extract_radiomics


@lru_cache(maxsize=1)
def _extractor(config_json: str) -> featureextractor.RadiomicsFeatureExtractor:
    return build_extractor(json.loads(config_json))


def radiomics_row(
    scan: str, image: Callable[[], sitk.Image], mask: Callable[[], sitk.Image], config: dict[str, Any]
) -> dict[str, pd.Series]:
    """``{scan_id: the configured PyRadiomics features}`` of one scan's nodule region."""
    extractor = _extractor(json.dumps(config, sort_keys=True))
    try:
        features = extract_radiomics(extractor, image(), mask())
    except ValueError as error:
        raise ValueError(f"Scan '{scan}': {error}") from error
    return {scan: pd.Series(features, dtype=float)}
