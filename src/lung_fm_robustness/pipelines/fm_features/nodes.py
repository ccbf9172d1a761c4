"""FM feature nodes: batched inference of the FMCIB trunk on the preprocessed cubes."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import feature_table, require_partitions
from lung_fm_robustness.fm.network import N_FEATURES, configure_threads, extract_features, load_fm_extractor
from lung_fm_robustness.progress import ScanProgress

logger = logging.getLogger(__name__)


def extract_fm_features(
    scans: ScanTable, fm_cubes: dict[str, Callable[[], sitk.Image]], fm: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """4,096 features per scan and the extractor's identity (label, weights sha256, resampling).

    ``fm.weights_path: null`` selects the seeded random-init control network, labelled as such.
    """
    order = list(scans.frame["scan_id"])
    require_partitions(fm_cubes, order, "fm_cubes")
    configure_threads(fm.get("num_threads"))
    model, info = load_fm_extractor(fm.get("weights_path"), seed=int(fm["seed"]))
    logger.info("FM extractor: %s (resampling: %s)", info.label, fm["resampling"])
    progress = ScanProgress("fm features", len(order), logger)

    def cubes() -> Iterator[np.ndarray]:
        for scan in order:
            yield sitk.GetArrayFromImage(fm_cubes[scan]())
            progress.step()

    values = extract_features(model, cubes(), batch_size=int(fm["batch_size"]))
    names = [f"fm_{i:04d}" for i in range(N_FEATURES)]
    return feature_table(scans, values, names), {**asdict(info), "resampling": fm["resampling"]}
