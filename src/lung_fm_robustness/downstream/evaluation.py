"""Per condition: AUC with its interval, its change from the reference, and how far the
predictions move from the reference predictions of the same patients."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lung_fm_robustness.agreement.study import Condition, study_order
from lung_fm_robustness.downstream.metrics import (
    auc_with_delong_ci,
    flip_share,
    probability_ccc,
)

RESULT_COLUMNS = [
    "extractor", "extractor_label", "feature_set", "harmonisation", "task", "kernel", "slice_thickness_mm",
    "is_reference", "auc", "ci_low", "ci_high", "delta_auc", "probability_ccc", "flip_share",
    "n_patients", "n_positive", "n_features",
]


def condition_results(
    predictions: pd.DataFrame, reference: Condition, confidence: float, threshold: float
) -> pd.DataFrame:
    """One row per condition (study order, reference first among equals): auc, ci_low, ci_high,
    delta_auc (auc minus the reference's), probability_ccc and flip_share against the reference
    predictions of the same patients, n_patients, n_positive."""
    by_condition = {
        Condition(k, t): rows.set_index("patient_id")
        for (k, t), rows in predictions.groupby(["kernel", "slice_thickness_mm"], sort=False)
    }
    ref = by_condition[reference]
    ref_auc = auc_with_delong_ci(ref["label"].to_numpy(), ref["probability"].to_numpy(), confidence)[0]
    rows = []
    for condition in sorted(by_condition, key=study_order):
        rows_ = by_condition[condition]
        auc, low, high = auc_with_delong_ci(rows_["label"].to_numpy(), rows_["probability"].to_numpy(), confidence)
        common = ref.index.intersection(rows_.index)
        p_ref, p_cond = ref.loc[common, "probability"].to_numpy(), rows_.loc[common, "probability"].to_numpy()
        rows.append(
            {
                "kernel": condition.kernel,
                "slice_thickness_mm": condition.slice_thickness_mm,
                "is_reference": condition == reference,
                "auc": auc,
                "ci_low": low,
                "ci_high": high,
                "delta_auc": auc - ref_auc,
                "probability_ccc": probability_ccc(p_ref, p_cond),
                "flip_share": flip_share(p_ref, p_cond, threshold),
                "n_patients": len(rows_),
                "n_positive": int(rows_["label"].sum()),
            }
        )
    return pd.DataFrame(rows)


def metric_key(row: pd.Series, metric: str) -> str:
    """Stable MLflow key: ``downstream[_combat].<set>.<task>.<kernel>_<thickness>.<metric>``,
    ``<set>`` = fm, radiomics, fm_negative_control, radiomics_negative_control or volume."""
    prefix = "downstream" if row["harmonisation"] == "none" else f"downstream_{row['harmonisation']}"
    feature_set = row["extractor"] if row["feature_set"] in ("features", "volume") else f"{row['extractor']}_{row['feature_set']}"
    condition = Condition(row["kernel"], row["slice_thickness_mm"]).label
    return f"{prefix}.{feature_set}.{row['task']}.{condition}.{metric}"


METRICS = {"auc": "auc", "auc_ci_low": "ci_low", "auc_ci_high": "ci_high", "delta_auc": "delta_auc",
           "probability_ccc": "probability_ccc", "flip_share": "flip_share"}


def results_metrics(results: pd.DataFrame) -> dict[str, float]:
    """Every finite number of the results table under its stable key (NaN never logged)."""
    metrics = {}
    for _, row in results.iterrows():
        for name, column in METRICS.items():
            value = float(row[column])
            if np.isfinite(value):
                metrics[metric_key(row, name)] = value
    return metrics
