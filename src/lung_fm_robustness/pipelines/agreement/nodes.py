"""Agreement nodes: per-feature agreement, summaries with intervals, breakdowns, the study table,
its figures, the HTML report and MLflow metrics. Pure functions; the catalog reads and writes."""
from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from lung_fm_robustness.agreement.bootstrap import bootstrap_summary_intervals
from lung_fm_robustness.agreement.breakdowns import agreement_by_feature_class, kernel_thickness_effects
from lung_fm_robustness.agreement.html_report import agreement_report_html
from lung_fm_robustness.agreement.parameters import AgreementParameters, agreement_parameters
from lung_fm_robustness.agreement.report import agreement_metrics, ccc_distribution_figure, study_table_markdown
from lung_fm_robustness.agreement.run_metadata import ExtractorIdentity, RunMetadata, software_versions
from lung_fm_robustness.agreement.study import (
    Condition,
    PairedCondition,
    pair_conditions,
    per_feature_ccc,
    study_order,
    summarise_agreement,
)
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.features import extractor_labels


def compute_feature_agreement(
    fm_features: pd.DataFrame, radiomics_features: pd.DataFrame, agreement: dict[str, Any]
) -> pd.DataFrame:
    """Every feature's CCC with its interval and parts (and ICCs asked for), both extractors."""
    params = agreement_parameters(agreement)
    tables = {"fm": fm_features, "radiomics": radiomics_features}
    return pd.concat(
        [
            per_feature_ccc(
                table,
                params.reference,
                extractor,
                allow_missing_patients=params.allow_missing_patients,
                confidence=params.confidence,
                coefficients=params.metrics,
            )
            for extractor, table in tables.items()
        ],
        ignore_index=True,
    )


def summarise(per_feature: pd.DataFrame, agreement: dict[str, Any]) -> pd.DataFrame:
    """Mean and median CCC and % strong per extractor and condition."""
    return summarise_agreement(per_feature, agreement_parameters(agreement).threshold)


def bootstrap_summaries(
    fm_features: pd.DataFrame,
    radiomics_features: pd.DataFrame,
    per_feature: pd.DataFrame,
    agreement: dict[str, Any],
) -> pd.DataFrame:
    """Every coefficient's summaries with percentile bootstrap intervals over patients."""
    params = agreement_parameters(agreement)
    return bootstrap_summary_intervals(
        _pairings(fm_features, radiomics_features, params),
        per_feature,
        params.metrics,
        params.threshold,
        confidence=params.confidence,
        n_resamples=params.n_resamples,
        seed=params.seed,
    )


def break_down_by_feature_class(per_feature: pd.DataFrame, agreement: dict[str, Any]) -> pd.DataFrame:
    """CCC summary per feature class (PyRadiomics classes; the FM is one class) and condition."""
    return agreement_by_feature_class(per_feature, agreement_parameters(agreement).threshold)


def compare_kernel_and_thickness(summary: pd.DataFrame, agreement: dict[str, Any]) -> pd.DataFrame:
    """Mean CCC by kernel at fixed thickness and by thickness at fixed kernel."""
    return kernel_thickness_effects(summary, agreement_parameters(agreement).reference)


def render_study_table(
    summary: pd.DataFrame,
    per_feature: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    agreement: dict[str, Any],
) -> str:
    """The study's table in Markdown, extractor labels and patient (and nodule) counts in the
    caption when every condition paired the same ones."""
    params = agreement_parameters(agreement)
    labels = extractor_labels(fm_extractor, radiomics_extractor)
    counts = per_feature[["n_patients", "n_units"]].drop_duplicates()
    n_patients, n_units = (int(n) for n in counts.iloc[0]) if len(counts) == 1 else (None, None)
    return study_table_markdown(
        summary, labels, params.reference, params.threshold, n_patients=n_patients, n_units=n_units
    )


def plot_ccc_distributions(
    per_feature: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    agreement: dict[str, Any],
) -> Figure:
    """CCC distributions per condition and extractor."""
    labels = extractor_labels(fm_extractor, radiomics_extractor)
    return ccc_distribution_figure(per_feature, labels, agreement_parameters(agreement).threshold)


def build_report(
    per_feature: pd.DataFrame,
    summary_ci: pd.DataFrame,
    by_class: pd.DataFrame,
    kernel_thickness: pd.DataFrame,
    radiomics_features: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    scans: ScanTable,
    agreement: dict[str, Any],
) -> str:
    """The self-contained HTML report: tables, embedded figures and the run's provenance."""
    params = agreement_parameters(agreement)
    frame = scans.frame
    conditions = {Condition(k, t) for k, t in zip(frame["kernel"], frame["slice_thickness_mm"])}
    metadata = RunMetadata(
        extractors=(
            ExtractorIdentity("fm", fm_extractor["label"], fm_extractor.get("sha256"), fm_extractor.get("resampling")),
            ExtractorIdentity("radiomics", radiomics_extractor["label"]),
        ),
        data_source=", ".join(sorted(set(frame["source"].astype(str)))),
        n_patients=int(frame["patient_id"].nunique()),
        n_nodules=_n_nodules(frame),
        conditions=tuple(sorted(conditions, key=study_order)),
        reference=params.reference,
        threshold=params.threshold,
        metrics=params.metrics,
        confidence=params.confidence,
        n_resamples=params.n_resamples,
        seed=params.seed,
        software=software_versions(),
    )
    radiomics_pairs = pair_conditions(
        radiomics_features,
        params.reference,
        extractor="radiomics",
        allow_missing_patients=params.allow_missing_patients,
    )
    return agreement_report_html(
        metadata,
        extractor_labels(fm_extractor, radiomics_extractor),
        per_feature,
        summary_ci,
        by_class,
        kernel_thickness,
        radiomics_pairs,
    )


def metrics_for_tracking(summary: pd.DataFrame, summary_ci: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """The summaries as MLflow metrics with stable keys such as ``fm.smooth_2.0.mean_ccc`` and
    ``fm.smooth_2.0.mean_ccc_ci_low`` (see :func:`agreement_metrics`)."""
    return {key: {"value": value, "step": 0} for key, value in agreement_metrics(summary, summary_ci).items()}


def _n_nodules(frame: pd.DataFrame) -> int | None:
    """Distinct (patient, nodule) of a scan table with one row per nodule; None when its rows
    carry no nodule_id (one nodule per patient: the phantom, a manifest)."""
    if "nodule_id" not in frame.columns or frame["nodule_id"].isna().all():
        return None
    return len(frame[["patient_id", "nodule_id"]].drop_duplicates())


def _pairings(
    fm_features: pd.DataFrame, radiomics_features: pd.DataFrame, params: AgreementParameters
) -> dict[str, dict[Condition, PairedCondition]]:
    tables = {"fm": fm_features, "radiomics": radiomics_features}
    return {
        extractor: pair_conditions(
            table, params.reference, extractor=extractor, allow_missing_patients=params.allow_missing_patients
        )
        for extractor, table in tables.items()
    }
