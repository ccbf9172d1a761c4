"""Downstream nodes: labels, the size baseline, negative-control features, cross-validated
models per feature set and harmonisation, the ComBat study table, figures, report, metrics.
Pure functions; the catalog reads and writes."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from matplotlib.figure import Figure

from lung_fm_robustness.agreement.parameters import agreement_parameters
from lung_fm_robustness.datasets.nodule_csv import NoduleCsvSource
from lung_fm_robustness.datasets.scan_manifest import ManifestSource
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.downstream.combat import combat_harmonise
from lung_fm_robustness.downstream.cv import ModelSettings, cross_validated_predictions
from lung_fm_robustness.downstream.evaluation import (
    RESULT_COLUMNS,
    condition_results,
    results_metrics,
)
from lung_fm_robustness.downstream.figures import auc_figure, probability_scatter_figure
from lung_fm_robustness.downstream.negative_controls import (
    scan_rng,
    shuffled_cubes,
    shuffled_region,
)
from lung_fm_robustness.downstream.report import (
    downstream_report_html,
    extractor_labels,
)
from lung_fm_robustness.downstream.tasks import (
    phantom_labels,
    require_trainable,
    user_labels,
)
from lung_fm_robustness.downstream.truth_dataset import PhantomTruthSource
from lung_fm_robustness.downstream.volume import volume_table
from lung_fm_robustness.features import ID_COLUMNS, feature_table, require_partitions
from lung_fm_robustness.fm.network import (
    N_FEATURES,
    configure_threads,
    extract_features,
    fold_batch_norm_,
    load_fm_extractor,
)
from lung_fm_robustness.pipelines.agreement.nodes import (
    compute_feature_agreement,
    summarise,
)
from lung_fm_robustness.progress import ScanProgress
from lung_fm_robustness.radiomics_extraction import build_extractor, extract_radiomics

logger = logging.getLogger(__name__)

HARMONISATIONS = ("none", "combat")


def build_labels(
    phantom_truth: PhantomTruthSource,
    input_manifest: ManifestSource,
    nodule_list: NoduleCsvSource,
    ingestion: dict[str, Any],
    downstream: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One label per patient and task, and the label summary (patients, positives, excluded).

    The phantom's tasks come from its ground truth (``downstream.tasks``); user data's from the
    binary ``downstream.label_columns`` of the manifest (``ingestion.source: manifest``) or of
    the nodule list (``dicom``).
    """
    source = ingestion["source"]
    if source == "phantom":
        labels, summary = phantom_labels(phantom_truth.read(), _names(downstream["tasks"]))
    elif source == "manifest":
        labels, summary = user_labels(input_manifest.read(), _names(downstream["label_columns"]),
                                      f"the manifest '{input_manifest.filepath}'")
    elif source == "dicom":
        labels, summary = user_labels(nodule_list.read(), _names(downstream["label_columns"]),
                                      f"the nodule list '{nodule_list.filepath}'")
    else:
        raise ValueError(f"ingestion.source must be phantom, manifest or dicom, got {source!r}")
    require_trainable(labels, ModelSettings.of(downstream).n_folds)
    for row in summary.itertuples(index=False):
        logger.info("Task %s: %d patients (%d positive), %d excluded", row.task, row.n_patients, row.n_positive, row.n_excluded)
    return labels, summary


def measure_volumes(scans: ScanTable, radiomics_regions: dict[str, Callable[[], sitk.Image]]) -> pd.DataFrame:
    """The size baseline's feature: each scan's nodule mask volume (voxels x voxel volume)."""
    return volume_table(scans, radiomics_regions)


def extract_fm_negative_control(
    scans: ScanTable,
    fm_cubes: dict[str, Callable[[], sitk.Image]],
    fm_extractor: dict[str, Any],
    fm: dict[str, Any],
    downstream: dict[str, Any],
) -> pd.DataFrame:
    """FM features of every cube with the nodule's voxels shuffled inside its mask, from the
    same network as ``fm_features``; no rows with ``downstream.negative_control: false``."""
    if not downstream["negative_control"]:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    require_partitions(fm_cubes, scans.frame["scan_id"], "fm_cubes")
    configure_threads(fm.get("num_threads"))
    model, info = load_fm_extractor(fm.get("weights_path"), seed=int(fm["seed"]))
    if info.label != fm_extractor["label"]:
        raise ValueError(
            f"The FM network is now {info.label!r} but fm_features came from {fm_extractor['label']!r}; the "
            "negative control must use the same network. Fix: rerun `kedro run --pipelines fm_features` or "
            "restore fm.weights_path / fm.seed."
        )
    progress = ScanProgress("fm negative control", len(scans.frame), logger)
    cubes = shuffled_cubes(scans, fm_cubes, fm["resampling"], int(downstream["seed"]), progress.step)
    values = extract_features(fold_batch_norm_(model), cubes, batch_size=int(fm["batch_size"]))
    return feature_table(scans, values, [f"fm_{i:04d}" for i in range(N_FEATURES)])


def extract_radiomics_negative_control(
    scans: ScanTable,
    radiomics_regions: dict[str, Callable[[], sitk.Image]],
    radiomics: dict[str, Any],
    downstream: dict[str, Any],
) -> pd.DataFrame:
    """PyRadiomics features of every region with the nodule's voxels shuffled inside its mask
    (same settings as ``radiomics_features``); no rows when the negative control is off."""
    if not downstream["negative_control"]:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    order = list(scans.frame["scan_id"])
    require_partitions(radiomics_regions, [f"{s}/{p}" for s in order for p in ("image", "mask")], "radiomics_regions")
    extractor = build_extractor(radiomics)
    progress = ScanProgress("radiomics negative control", len(order), logger)
    rows = []
    for scan in order:
        mask = radiomics_regions[f"{scan}/mask"]()
        image = shuffled_region(radiomics_regions[f"{scan}/image"](), mask, scan_rng(int(downstream["seed"]), scan))
        rows.append(extract_radiomics(extractor, image, mask))
        progress.step()
    values = pd.DataFrame(rows)
    return feature_table(scans, values.to_numpy(dtype=float), values.columns)


def evaluate_downstream(
    fm_features: pd.DataFrame,
    radiomics_features: pd.DataFrame,
    fm_negative_control: pd.DataFrame,
    radiomics_negative_control: pd.DataFrame,
    volumes: pd.DataFrame,
    labels: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    agreement: dict[str, Any],
    downstream: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results (one row per extractor x feature set x harmonisation x task x condition,
    ``RESULT_COLUMNS``) and every out-of-fold prediction behind them."""
    reference = agreement_parameters(agreement).reference
    settings = ModelSettings.of(downstream)
    confidence, threshold = float(downstream["confidence"]), float(downstream["flip_threshold"])
    names = extractor_labels(fm_extractor, radiomics_extractor)
    feature_sets = [("fm", "features", fm_features), ("radiomics", "features", radiomics_features)]
    if downstream["negative_control"]:
        if fm_negative_control.empty or radiomics_negative_control.empty:
            raise ValueError(
                "downstream.negative_control is true but the negative-control feature tables have no rows (written "
                "by a run with it off). Fix: run the whole downstream pipeline: kedro run --pipelines downstream."
            )
        feature_sets += [("fm", "negative_control", fm_negative_control),
                         ("radiomics", "negative_control", radiomics_negative_control)]
    feature_sets.append(("volume", "volume", volumes))
    results, predictions = [], []
    for extractor, feature_set, table in feature_sets:
        for harmonisation in _harmonisations(downstream, feature_set):
            harmonised = combat_harmonise(table).table if harmonisation == "combat" else table
            for task, task_labels in labels.groupby("task", sort=False):
                by_patient = task_labels.set_index(task_labels["patient_id"].astype(str))["label"]
                predicted, n_features = cross_validated_predictions(harmonised, by_patient, reference, settings)
                keys = {"extractor": extractor, "feature_set": feature_set, "harmonisation": harmonisation, "task": task}
                block = condition_results(predicted, reference, confidence, threshold)
                results.append(block.assign(**keys, extractor_label=names[extractor], n_features=n_features))
                predictions.append(predicted.assign(**keys))
    return pd.DataFrame(pd.concat(results, ignore_index=True)[RESULT_COLUMNS]), pd.concat(predictions, ignore_index=True)


def compare_agreement_after_combat(
    fm_features: pd.DataFrame, radiomics_features: pd.DataFrame, agreement: dict[str, Any], downstream: dict[str, Any]
) -> pd.DataFrame:
    """The study table (mean CCC, % CCC >= threshold per extractor and condition) before and
    after ComBat, side by side, with how many features ComBat left unharmonised."""
    combat_fm, combat_radiomics = combat_harmonise(fm_features), combat_harmonise(radiomics_features)
    before = _study_summary(fm_features, radiomics_features, agreement)
    after = _study_summary(combat_fm.table, combat_radiomics.table, agreement)
    keys = ["extractor", "kernel", "slice_thickness_mm"]
    table = before.merge(after, on=keys, suffixes=("_before", "_combat"))
    table["n_unharmonised"] = table["extractor"].map(
        {"fm": combat_fm.n_unharmonised, "radiomics": combat_radiomics.n_unharmonised})
    columns = ["mean_ccc", "pct_strong", "n_undefined"]
    return table[[*keys, "n_features_before", *[f"{c}_{s}" for c in columns for s in ("before", "combat")],
                  "n_unharmonised", "threshold_before"]].rename(
        columns={"n_features_before": "n_features", "threshold_before": "threshold"})


def plot_auc(results: pd.DataFrame, fm_extractor: dict[str, Any], radiomics_extractor: dict[str, Any]) -> Figure:
    """AUC per condition per feature set with DeLong intervals."""
    return auc_figure(results, extractor_labels(fm_extractor, radiomics_extractor))


def plot_probability_scatter(
    predictions: pd.DataFrame, fm_extractor: dict[str, Any], radiomics_extractor: dict[str, Any], agreement: dict[str, Any]
) -> Figure:
    """Predicted probabilities under each condition against the reference (first task)."""
    task = str(predictions["task"].iloc[0])
    return probability_scatter_figure(predictions, agreement_parameters(agreement).reference, task,
                                      extractor_labels(fm_extractor, radiomics_extractor))


def build_report(
    results: pd.DataFrame,
    label_summary: pd.DataFrame,
    combat_study: pd.DataFrame,
    predictions: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    agreement: dict[str, Any],
    downstream: dict[str, Any],
) -> str:
    """The self-contained downstream HTML report."""
    return downstream_report_html(results, label_summary, combat_study, predictions, fm_extractor,
                                  radiomics_extractor, agreement_parameters(agreement).reference, downstream)


def metrics_for_tracking(results: pd.DataFrame, combat_study: pd.DataFrame) -> dict[str, dict[str, float]]:
    """MLflow metrics with stable keys (see :func:`metric_key`), plus the ComBat study table as
    ``downstream_combat.agreement.<extractor>.<condition>.<mean_ccc|pct_strong>``."""
    metrics = results_metrics(results)
    for row in combat_study.itertuples(index=False):
        condition = f"{row.kernel}_{float(row.slice_thickness_mm):.1f}"
        for name in ("mean_ccc", "pct_strong"):
            value = float(getattr(row, f"{name}_combat"))
            if np.isfinite(value):
                metrics[f"downstream_combat.agreement.{row.extractor}.{condition}.{name}"] = value
    return {key: {"value": value, "step": 0} for key, value in metrics.items()}


def _study_summary(fm_features: pd.DataFrame, radiomics_features: pd.DataFrame, agreement: dict[str, Any]) -> pd.DataFrame:
    """The agreement stage's own study summary (the one place this pipeline calls it)."""
    return summarise(compute_feature_agreement(fm_features, radiomics_features, agreement), agreement)


def _harmonisations(downstream: dict[str, Any], feature_set: str) -> tuple[str, ...]:
    """ComBat needs several features to pool its priors: the single-feature volume baseline is
    only evaluated as measured."""
    if downstream["combat"] and feature_set != "volume":
        return HARMONISATIONS
    return ("none",)


def _names(value: Any) -> list[str]:
    """A list parameter, or a `+`-joined string from --params."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split("+") if v]
    return [str(v) for v in value]
