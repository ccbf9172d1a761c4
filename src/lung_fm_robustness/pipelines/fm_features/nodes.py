"""FM feature nodes: batched inference of the FMCIB trunk on the preprocessed cubes, and
the sensitivity of the study's FM results to the cube's resampling mode."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.agreement.study import Condition
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import ID_COLUMNS, feature_table, require_partitions
from lung_fm_robustness.fm.cube import other_resampling
from lung_fm_robustness.fm.network import (
    N_FEATURES,
    configure_threads,
    extract_features,
    fold_batch_norm_,
    load_fm_extractor,
)
from lung_fm_robustness.fm.resampling_comparison import (
    NOT_COMPARED,
    compare_resampling_enabled,
    comparison_markdown,
    empty_comparison,
    resampling_comparison,
)
from lung_fm_robustness.progress import ScanProgress

logger = logging.getLogger(__name__)


def extract_fm_features(
    scans: ScanTable, fm_cubes: dict[str, Callable[[], sitk.Image]], fm: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """4,096 features per scan and the extractor's identity (label, weights sha256, resampling).

    ``fm.weights_path: null`` selects the seeded random-init control network, labelled as such.
    BatchNorm is folded into the convolutions for speed (same features to ~1e-6).
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

    values = extract_features(fold_batch_norm_(model), cubes(), batch_size=int(fm["batch_size"]))
    names = [f"fm_{i:04d}" for i in range(N_FEATURES)]
    return feature_table(scans, values, names), {**asdict(info), "resampling": fm["resampling"]}


def extract_fm_features_other_resampling(
    scans: ScanTable,
    fm_cubes_other_resampling: dict[str, Callable[[], sitk.Image]],
    fm: dict[str, Any],
) -> pd.DataFrame:
    """With ``fm.compare_resampling``, the features of the other resampling mode's cubes
    (same network); otherwise a table with no rows."""
    if not compare_resampling_enabled(fm):
        return pd.DataFrame(columns=list(ID_COLUMNS))
    other = {**fm, "resampling": other_resampling(fm["resampling"])}
    features, _ = extract_fm_features(scans, fm_cubes_other_resampling, other)
    return features


def compare_fm_resampling(
    fm_features: pd.DataFrame,
    fm_features_other_resampling: pd.DataFrame,
    fm_extractor: dict[str, Any],
    fm: dict[str, Any],
    agreement: dict[str, Any],
) -> tuple[pd.DataFrame, str]:
    """The study's FM agreement numbers in both resampling modes side by side (table and
    Markdown), with ``agreement``'s reference and threshold; a note when not compared."""
    if not compare_resampling_enabled(fm):
        return empty_comparison(), NOT_COMPARED
    mode = fm_extractor["resampling"]
    reference = Condition(
        str(agreement["reference"]["kernel"]), float(agreement["reference"]["slice_thickness_mm"])
    )
    comparison = resampling_comparison(
        {mode: fm_features, other_resampling(mode): fm_features_other_resampling},
        fm_extractor["label"],
        reference,
        float(agreement["threshold"]),
        allow_missing_patients=bool(agreement["allow_missing_patients"]),
    )
    return comparison, comparison_markdown(comparison, reference)
