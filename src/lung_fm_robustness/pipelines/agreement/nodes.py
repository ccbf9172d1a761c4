"""Agreement nodes: per-feature CCC, the study table, its figure and MLflow metrics."""
from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from lung_fm_robustness.agreement.report import agreement_metrics, ccc_distribution_figure, study_table_markdown
from lung_fm_robustness.agreement.study import Condition, per_feature_ccc, summarise_agreement


def reference_condition(agreement: dict[str, Any]) -> Condition:
    """``agreement.reference`` as a :class:`Condition`."""
    reference = agreement["reference"]
    return Condition(str(reference["kernel"]), float(reference["slice_thickness_mm"]))


def extractor_labels(fm_extractor: dict[str, Any], radiomics_extractor: dict[str, Any]) -> dict[str, str]:
    """What each extractor was, as every table and plot names it."""
    return {
        "fm": f"{fm_extractor['label']} (resampling: {fm_extractor['resampling']})",
        "radiomics": radiomics_extractor["label"],
    }


def compute_feature_agreement(
    fm_features: pd.DataFrame, radiomics_features: pd.DataFrame, agreement: dict[str, Any]
) -> pd.DataFrame:
    """Lin's CCC of every feature and non-reference condition, both extractors in one table."""
    reference = reference_condition(agreement)
    allow_missing = bool(agreement["allow_missing_patients"])
    tables = {"fm": fm_features, "radiomics": radiomics_features}
    return pd.concat(
        [
            per_feature_ccc(table, reference, extractor, allow_missing_patients=allow_missing)
            for extractor, table in tables.items()
        ],
        ignore_index=True,
    )


def summarise(per_feature: pd.DataFrame, agreement: dict[str, Any]) -> pd.DataFrame:
    """Mean and median CCC and % strong per extractor and condition."""
    return summarise_agreement(per_feature, float(agreement["threshold"]))


def render_study_table(
    summary: pd.DataFrame,
    per_feature: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    agreement: dict[str, Any],
) -> str:
    """The study's table in Markdown, extractor labels and patient count in the caption."""
    labels = extractor_labels(fm_extractor, radiomics_extractor)
    reference = reference_condition(agreement)
    patients = per_feature["n_patients"].unique()
    n_patients = int(patients[0]) if len(patients) == 1 else None
    return study_table_markdown(
        summary, labels, reference, float(agreement["threshold"]), n_patients=n_patients
    )


def plot_ccc_distributions(
    per_feature: pd.DataFrame, fm_extractor: dict[str, Any], radiomics_extractor: dict[str, Any], agreement: dict[str, Any]
) -> Figure:
    """CCC distributions per condition and extractor."""
    labels = extractor_labels(fm_extractor, radiomics_extractor)
    return ccc_distribution_figure(per_feature, labels, float(agreement["threshold"]))


def metrics_for_tracking(summary: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """The summary as MLflow metrics with stable keys such as ``fm.smooth_2.0.mean_ccc``."""
    return {key: {"value": value, "step": 0} for key, value in agreement_metrics(summary).items()}
