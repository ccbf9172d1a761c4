"""FM feature nodes: batched inference of the FMCIB trunk on the preprocessed cubes (per-batch
work run by the ``params:compute`` executor, saved per scan, resumable), the study's table
of those rows, and the sensitivity of the study's FM results to the cube's resampling mode."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch

from lung_fm_robustness.agreement.parameters import agreement_parameters
from lung_fm_robustness.compute import (
    ComputeSettings,
    ScanWork,
    Task,
    fingerprint,
    run_in_memory,
)
from lung_fm_robustness.datasets.feature_row import stack_feature_rows
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import ID_COLUMNS, feature_table, require_partitions
from lung_fm_robustness.fm.cube import other_resampling
from lung_fm_robustness.fm.network import FeatureExtractorInfo, describe_fm_extractor
from lung_fm_robustness.fm.resampling_comparison import (
    NOT_COMPARED,
    compare_resampling_enabled,
    comparison_markdown,
    empty_comparison,
    resampling_comparison,
)
from lung_fm_robustness.pipelines.fm_features.scan_tasks import (
    FEATURE_NAMES,
    fm_feature_batch,
)

logger = logging.getLogger(__name__)


def fm_threads(fm: dict[str, Any], compute: ComputeSettings) -> int:
    """Torch threads of every FM task: ``fm.num_threads``, else ``compute.threads_per_worker``;
    the same in every backend, so features do not depend on the backend."""
    threads = fm.get("num_threads")
    if threads is None:
        return compute.threads_per_worker
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"fm.num_threads must be a positive integer or null, got {threads!r}.")
    return threads


def _fm_work(
    scans: ScanTable, fm_cubes: dict[str, Callable[[], sitk.Image]], fm: dict[str, Any], compute: dict[str, Any],
    stage: str,
) -> tuple[ScanWork, FeatureExtractorInfo]:
    """One task per fixed batch of ``fm.batch_size`` scans (in scan-table order), fingerprinted
    by the network's identity, the thread count and the cubes' own fingerprints."""
    order = list(scans.frame["scan_id"])
    require_partitions(fm_cubes, order, "fm_cubes")
    settings = ComputeSettings.from_params(compute)
    batch_size = int(fm["batch_size"])
    if batch_size < 1:
        raise ValueError(f"fm.batch_size must be a positive integer, got {fm['batch_size']!r}.")
    threads = fm_threads(fm, settings)
    info = describe_fm_extractor(fm.get("weights_path"), seed=int(fm["seed"]))
    tasks = {}
    for start in range(0, len(order), batch_size):
        batch = [(scan, fm_cubes[scan]) for scan in order[start:start + batch_size]]
        identity = fingerprint(
            "fm_features", asdict(info), threads, torch.__version__,
            [(scan, getattr(load, "fingerprint", None)) for scan, load in batch],
        )
        tasks[f"batch-{start // batch_size:05d}"] = Task(
            fm_feature_batch, (batch, info.weights_path, int(fm["seed"]), threads), identity
        )
    logger.info("FM extractor: %s (resampling: %s, %d threads per task)", info.label, fm["resampling"], threads)
    return ScanWork(stage, tasks, settings, unit="batches"), info


def extract_fm_features(
    scans: ScanTable, fm_cubes: dict[str, Callable[[], sitk.Image]], fm: dict[str, Any], compute: dict[str, Any]
) -> tuple[ScanWork, dict[str, Any]]:
    """The work computing 4,096 features per scan (saved per scan as it completes) and the
    extractor's identity (label, weights sha256, resampling).

    ``fm.weights_path: null`` selects the seeded random-init control network, labelled as such.
    BatchNorm is folded into the convolutions for speed (same features to ~1e-6).
    """
    work, info = _fm_work(scans, fm_cubes, fm, compute, "fm features")
    return work, {**asdict(info), "resampling": fm["resampling"]}


def collect_fm_features(scans: ScanTable, fm_feature_rows: dict[str, Callable[[], pd.Series]]) -> pd.DataFrame:
    """The per-scan FM rows as the study's ``fm_features`` table, in scan-table order."""
    values, names = stack_feature_rows(fm_feature_rows, list(scans.frame["scan_id"]), "fm_feature_rows")
    return feature_table(scans, values, names)


def extract_fm_features_other_resampling(
    scans: ScanTable,
    fm_cubes_other_resampling: dict[str, Callable[[], sitk.Image]],
    fm: dict[str, Any],
    compute: dict[str, Any],
) -> pd.DataFrame:
    """With ``fm.compare_resampling``, the features of the other resampling mode's cubes
    (same network, same backend, kept in memory); otherwise a table with no rows."""
    if not compare_resampling_enabled(fm):
        return pd.DataFrame(columns=list(ID_COLUMNS))
    other = {**fm, "resampling": other_resampling(fm["resampling"])}
    work, _ = _fm_work(scans, fm_cubes_other_resampling, other, compute, "fm features (other resampling)")
    rows = {}
    for _, batch_rows in run_in_memory(work):
        rows.update(batch_rows)
    order = list(scans.frame["scan_id"])
    values = np.stack([rows[scan].to_numpy() for scan in order])
    return feature_table(scans, values, FEATURE_NAMES)


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
    params = agreement_parameters(agreement)
    comparison = resampling_comparison(
        {mode: fm_features, other_resampling(mode): fm_features_other_resampling},
        fm_extractor["label"],
        params.reference,
        params.threshold,
        allow_missing_patients=params.allow_missing_patients,
    )
    return comparison, comparison_markdown(comparison, params.reference)
