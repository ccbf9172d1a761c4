"""The downstream HTML report: one self-contained page (figures embedded as base64 PNG)."""
from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from lung_fm_robustness.agreement.study import Condition
from lung_fm_robustness.downstream.figures import (
    auc_figure,
    probability_scatter_figure,
    set_name,
)
from lung_fm_robustness.features import extractor_labels as study_extractor_labels

VOLUME_LABEL = "mask volume (voxel count x voxel volume)"


def extractor_labels(fm_extractor: dict[str, Any], radiomics_extractor: dict[str, Any]) -> dict[str, str]:
    """What each feature set's extractor was, as every table and plot names it."""
    return {**study_extractor_labels(fm_extractor, radiomics_extractor), "volume": VOLUME_LABEL}


def downstream_report_html(
    results: pd.DataFrame,
    label_summary: pd.DataFrame,
    combat_study: pd.DataFrame,
    predictions: pd.DataFrame,
    fm_extractor: dict[str, Any],
    radiomics_extractor: dict[str, Any],
    reference: Condition,
    downstream: dict[str, Any],
) -> str:
    labels = extractor_labels(fm_extractor, radiomics_extractor)
    model = downstream["model"]
    sections = [
        "<h1>Downstream robustness</h1>",
        "<h2>Run</h2>",
        _table(["", ""], [
            ["FM extractor", labels["fm"]],
            ["Radiomics extractor", labels["radiomics"]],
            ["Size baseline", VOLUME_LABEL],
            ["Reference condition", f"{reference.kernel} {reference.slice_thickness_mm:.1f} mm"],
            ["Model", _model_text(model)],
            ["Cross-validation", f"stratified {downstream['n_folds']}-fold over patients, seed {downstream['seed']}"],
            ["Negative control", "on" if downstream["negative_control"] else "off"],
            ["ComBat", "on" if downstream["combat"] else "off"],
        ]),
        "<h2>Tasks</h2>",
        _frame_table(label_summary),
        "<h2>AUC per condition</h2>",
        _png(auc_figure(results, labels), "AUC per condition"),
        _frame_table(_results_view(results, labels)),
        "<h2>Predictions under each condition against the reference</h2>",
        _png(probability_scatter_figure(predictions, reference, str(predictions["task"].iloc[0]), labels), "scatter"),
        "<h2>Study table before and after ComBat</h2>",
        _frame_table(combat_study) if len(combat_study) else "<p>ComBat off.</p>",
        "<h2>Methods</h2>",
        f"<p>{html.escape(METHODS)}</p>",
    ]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Downstream robustness</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
            "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>"
            + "\n".join(sections) + "</body></html>")


METHODS = (
    "Models are trained on the reference condition only: stratified patient-level K-fold; in each fold the "
    "standardisation, PCA and L2 logistic regression are fitted on the training patients' reference scans, then "
    "predict the test patients' scans under every condition. AUC is the Mann-Whitney AUC of the pooled "
    "out-of-fold predictions, with DeLong's asymptotic interval (clipped to [0, 1]); delta_auc is the change from "
    "the reference; probability_ccc is Lin's CCC of the same patients' predicted probabilities against the "
    "reference predictions; flip_share is the share of patients whose class at the flip threshold changes. "
    "Baselines: the nodule mask volume alone, and READII-style negative controls (voxels shuffled inside the "
    "nodule mask, seeded per scan, same extractors). ComBat (neuroCombat, condition as batch, no labels or "
    "covariates) is fitted on all scans at once, test patients included: unsupervised and label-free, but not "
    "fold-internal; every condition, the reference included, is moved to the pooled location and scale."
)


def _model_text(model: dict[str, Any]) -> str:
    pca = model["pca_components"]
    reduce = "" if pca is None else f"PCA to {pca} components for sets with more features, "
    return (f"standardisation, {reduce}L2 logistic regression with C={model['C']}, all fitted on each "
            "training fold's reference scans only")


def _results_view(results: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    view = results.assign(feature_set=[set_name(e, f, labels) for e, f in zip(results["extractor"], results["feature_set"])])
    return view[["feature_set", "harmonisation", "task", "kernel", "slice_thickness_mm", "auc", "ci_low", "ci_high",
                 "delta_auc", "probability_ccc", "flip_share", "n_patients", "n_positive"]]


def _frame_table(frame: pd.DataFrame) -> str:
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    return _table(list(frame.columns), rows)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"  # NaN: undefined, or nothing excluded
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _png(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
