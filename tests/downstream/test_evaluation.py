"""Per-condition results from out-of-fold predictions, and their stable MLflow keys."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from lung_fm_robustness.agreement.study import Condition
from lung_fm_robustness.downstream.evaluation import (
    condition_results,
    metric_key,
    results_metrics,
)

REFERENCE = Condition("medium", 1.0)


def _predictions():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(10, int), np.zeros(10, int)]
    p_ref = np.clip(0.5 + 0.3 * (labels - 0.5) + rng.normal(0, 0.15, 20), 0, 1)
    rows = []
    for kernel, thickness, p in [("medium", 1.0, p_ref), ("sharp", 2.0, np.clip(p_ref + 0.2, 0, 1))]:
        rows.append(pd.DataFrame({"patient_id": [f"P{i}" for i in range(20)], "kernel": kernel,
                                  "slice_thickness_mm": thickness, "fold": np.arange(20) % 4, "label": labels,
                                  "probability": p}))
    return pd.concat(rows, ignore_index=True), p_ref


def test_condition_results_against_independent_numbers():
    predictions, p_ref = _predictions()
    results = condition_results(predictions, REFERENCE, 0.95, 0.5).set_index("kernel")
    sharp = predictions[predictions.kernel == "sharp"]
    assert results.loc["sharp", "auc"] == pytest.approx(roc_auc_score(sharp.label, sharp.probability))
    assert results.loc["sharp", "delta_auc"] == pytest.approx(
        roc_auc_score(sharp.label, sharp.probability) - roc_auc_score(sharp.label, p_ref))
    assert results.loc["sharp", "flip_share"] == pytest.approx(np.mean((p_ref >= 0.5) != (sharp.probability >= 0.5)))
    assert results.loc["sharp", "probability_ccc"] < 1
    assert results.loc["medium", "is_reference"] and results.loc["medium", "probability_ccc"] == pytest.approx(1)
    assert results.loc["sharp", "n_patients"] == 20 and results.loc["sharp", "n_positive"] == 10


def test_metric_keys_are_stable_and_nan_is_never_logged():
    row = pd.Series({"extractor": "fm", "feature_set": "features", "harmonisation": "none",
                     "task": "solid_vs_subsolid", "kernel": "sharp", "slice_thickness_mm": 2, "auc": 0.7,
                     "ci_low": 0.6, "ci_high": 0.8, "delta_auc": 0.01, "probability_ccc": np.nan, "flip_share": 0.1})
    assert metric_key(row, "auc") == "downstream.fm.solid_vs_subsolid.sharp_2.0.auc"
    control = row.copy()
    control["feature_set"], control["harmonisation"] = "negative_control", "combat"
    assert metric_key(control, "auc_ci_low") == "downstream_combat.fm_negative_control.solid_vs_subsolid.sharp_2.0.auc_ci_low"
    volume = row.copy()
    volume["extractor"] = volume["feature_set"] = "volume"
    assert metric_key(volume, "auc") == "downstream.volume.solid_vs_subsolid.sharp_2.0.auc"
    metrics = results_metrics(pd.DataFrame([row]))
    assert metrics == {
        "downstream.fm.solid_vs_subsolid.sharp_2.0.auc": 0.7,
        "downstream.fm.solid_vs_subsolid.sharp_2.0.auc_ci_low": 0.6,
        "downstream.fm.solid_vs_subsolid.sharp_2.0.auc_ci_high": 0.8,
        "downstream.fm.solid_vs_subsolid.sharp_2.0.delta_auc": 0.01,
        "downstream.fm.solid_vs_subsolid.sharp_2.0.flip_share": 0.1,
    }
