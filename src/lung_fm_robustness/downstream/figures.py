"""Figures of the downstream analysis: AUC per condition with intervals, and each condition's
predicted probabilities against the reference's."""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lung_fm_robustness.agreement.study import Condition, study_order


def set_name(extractor: str, feature_set: str, labels: dict[str, str]) -> str:
    """Legend text of one feature set, with the extractor's label (e.g. resnet50-random-init)."""
    label = labels.get(extractor, extractor)
    if feature_set == "negative_control":
        return f"{label}, shuffled (negative control)"
    return label


def auc_figure(results: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """One panel per task (columns) and harmonisation (rows): AUC with its 95 % interval for
    every feature set along the conditions, chance at 0.5."""
    tasks = list(dict.fromkeys(results["task"]))
    harmonisations = list(dict.fromkeys(results["harmonisation"]))
    conditions = sorted({Condition(k, t) for k, t in zip(results["kernel"], results["slice_thickness_mm"])}, key=study_order)
    sets = list(dict.fromkeys(zip(results["extractor"], results["feature_set"])))
    figure = Figure(figsize=(5.2 * len(tasks), 3.6 * len(harmonisations)), constrained_layout=True)
    axes = figure.subplots(len(harmonisations), len(tasks), squeeze=False, sharey=True)
    width = 0.8 / max(len(sets), 1)
    for i, harmonisation in enumerate(harmonisations):
        for j, task in enumerate(tasks):
            ax = axes[i][j]
            for s, (extractor, feature_set) in enumerate(sets):
                rows = results[(results["harmonisation"] == harmonisation) & (results["task"] == task)
                               & (results["extractor"] == extractor) & (results["feature_set"] == feature_set)]
                if rows.empty:
                    continue
                at = {Condition(k, t): n for n, (k, t) in enumerate(zip(rows["kernel"], rows["slice_thickness_mm"]))}
                xs = [conditions.index(c) + (s - (len(sets) - 1) / 2) * width for c in at]
                auc = rows["auc"].to_numpy()
                errors = np.vstack([auc - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - auc])
                ax.errorbar(xs, auc, yerr=errors, fmt="o", ms=4, capsize=2, label=set_name(extractor, feature_set, labels))
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
            ax.set_xticks(range(len(conditions)), [f"{c.kernel}\n{c.slice_thickness_mm:.1f} mm" for c in conditions], fontsize=8)
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{task} (harmonisation: {harmonisation})", fontsize=9)
            if j == 0:
                ax.set_ylabel("AUC (95 % CI, DeLong)")
    handles, texts = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, texts, loc="outside lower center", ncol=min(len(texts), 3), fontsize=8)
    return figure


def probability_scatter_figure(predictions: pd.DataFrame, reference: Condition, task: str, labels: dict[str, str]) -> Figure:
    """For ``task`` without harmonisation: each patient's predicted probability under every
    other condition against the reference, one row per feature set (identity line dashed)."""
    rows = predictions[(predictions["task"] == task) & (predictions["harmonisation"] == "none")]
    sets = list(dict.fromkeys(zip(rows["extractor"], rows["feature_set"])))
    conditions = sorted({Condition(k, t) for k, t in zip(rows["kernel"], rows["slice_thickness_mm"])} - {reference}, key=study_order)
    figure = Figure(figsize=(2.4 * max(len(conditions), 1), 2.4 * max(len(sets), 1)), constrained_layout=True)
    axes = figure.subplots(max(len(sets), 1), max(len(conditions), 1), squeeze=False, sharex=True, sharey=True)
    for i, (extractor, feature_set) in enumerate(sets):
        block = rows[(rows["extractor"] == extractor) & (rows["feature_set"] == feature_set)]
        ref = block[(block["kernel"] == reference.kernel) & (block["slice_thickness_mm"] == reference.slice_thickness_mm)]
        ref = ref.set_index("patient_id")
        for j, condition in enumerate(conditions):
            ax = axes[i][j]
            cond = block[(block["kernel"] == condition.kernel) & (block["slice_thickness_mm"] == condition.slice_thickness_mm)]
            cond = cond.set_index("patient_id")
            common = ref.index.intersection(cond.index)
            colours = np.where(ref.loc[common, "label"].to_numpy() == 1, "tab:red", "tab:blue")
            ax.scatter(ref.loc[common, "probability"], cond.loc[common, "probability"], s=9, c=colours)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            if i == 0:
                ax.set_title(f"{condition.kernel} {condition.slice_thickness_mm:.1f} mm", fontsize=8)
            if j == 0:
                ax.set_ylabel(textwrap.fill(set_name(extractor, feature_set, labels), 26), fontsize=7)
    figure.supxlabel(f"predicted probability, reference {reference.kernel} {reference.slice_thickness_mm:.1f} mm "
                     f"({task}; red: positive, blue: negative)", fontsize=8)
    figure.supylabel("predicted probability under the condition", fontsize=8)
    return figure
