"""Sensitivity of the study's FM results to the cube's resampling mode (fmcib vs exact).

MONAI 1.3-1.5 sample the 1 mm grid slightly off its nominal points (see ``fm.cube``).
With ``fm.compare_resampling: true`` the FM features are computed in both modes, and the
study's agreement numbers of each are laid side by side, same reference and threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lung_fm_robustness.agreement.report import units_text
from lung_fm_robustness.agreement.study import (
    SUMMARY_COLUMNS,
    Condition,
    per_feature_ccc,
    summarise_agreement,
)

# The study summary's columns (after extractor), keyed by mode, with the patients and units
# (nodules when the feature tables carry nodule_id, else patients again) used.
COMPARISON_COLUMNS = ("resampling", "label", *SUMMARY_COLUMNS[1:], "n_patients", "n_units")
NOT_COMPARED = (
    "No resampling comparison in this run: `fm.compare_resampling` is false. Run with "
    "`--params fm.compare_resampling=true` to compute the FM features in both resampling "
    "modes and compare their agreement here.\n"
)


def compare_resampling_enabled(fm: Mapping[str, Any]) -> bool:
    """The ``fm.compare_resampling`` switch (absent means false)."""
    value = fm.get("compare_resampling", False)
    if not isinstance(value, bool):
        raise ValueError(f"fm.compare_resampling must be true or false, got {value!r}")
    return value


def resampling_comparison(
    features: Mapping[str, pd.DataFrame],
    label: str,
    reference: Condition,
    threshold: float,
    *,
    allow_missing_patients: bool = False,
) -> pd.DataFrame:
    """The study's summary (mean and median CCC, % CCC >= threshold per condition) of the
    FM features of each resampling mode; ``features[mode]`` is a feature table.

    Returns:
        Columns ``COMPARISON_COLUMNS``, the modes in the order given, conditions in the
        order the first table lists them; ``label`` is the network's (``fm_extractor``).
    """
    order = _condition_order(next(iter(features.values())))
    blocks = []
    for mode, table in features.items():
        per_feature = per_feature_ccc(
            table, reference, "fm", allow_missing_patients=allow_missing_patients
        )
        counts = per_feature.groupby(["kernel", "slice_thickness_mm"])[["n_patients", "n_units"]].first()
        summary = summarise_agreement(per_feature, threshold).join(
            counts, on=["kernel", "slice_thickness_mm"]
        )
        position = [
            order.get((k, float(t)), len(order))
            for k, t in zip(summary["kernel"], summary["slice_thickness_mm"])
        ]
        blocks.append(summary.iloc[np.argsort(position, kind="stable")].assign(
            resampling=mode, label=label
        ))
    return pd.concat(blocks, ignore_index=True)[list(COMPARISON_COLUMNS)]


def empty_comparison() -> pd.DataFrame:
    """The comparison table of a run without comparison: its columns, no rows."""
    return pd.DataFrame(columns=list(COMPARISON_COLUMNS))


def comparison_markdown(comparison: pd.DataFrame, reference: Condition) -> str:
    """The comparison as the study's table, one column group per resampling mode."""
    modes = list(dict.fromkeys(comparison["resampling"]))
    label = comparison["label"].iloc[0]
    threshold = float(comparison["threshold"].iloc[0])
    rows = comparison.set_index(["resampling", "kernel", "slice_thickness_mm"])
    conditions = list(dict.fromkeys(zip(comparison["kernel"], comparison["slice_thickness_mm"])))
    header = ["Kernel", "Slice thickness (mm)"]
    for mode in modes:
        header += [f"{mode}: mean CCC", f"{mode}: % CCC ≥ {threshold:g}", f"{mode}: undefined"]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    for kernel, thickness in conditions:
        cells = [kernel, f"{thickness:.1f}"]
        for mode in modes:
            row = rows.loc[(mode, kernel, thickness)]
            cells += [
                _number(row["mean_ccc"], "{:.3f}"),
                _number(row["pct_strong"], "{:.1f}"),
                f"{row['n_undefined']:.0f} of {row['n_features']:.0f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    nodules = (comparison["n_units"] != comparison["n_patients"]).any()
    n = "n = " + units_text(
        _count_range(comparison["n_patients"]), _count_range(comparison["n_units"]) if nodules else None
    )
    caption = (
        f"FM features of one network (`{label}`) from cubes resampled each way: Lin's CCC of "
        f"each feature against the reference reconstruction ({reference.kernel} kernel, "
        f"{reference.slice_thickness_mm:.1f} mm), {n}; strong agreement: CCC ≥ "
        f"{threshold:g}. Means and percentages are over features with a defined CCC."
    )
    legend = "Modes: " + "; ".join(
        f"`{mode}` = {label} (resampling: {mode})" for mode in modes
    ) + "."
    return "\n".join([caption, "", legend, "", *lines]) + "\n"


def _condition_order(table: pd.DataFrame) -> dict[tuple[str, float], int]:
    pairs = zip(table["kernel"], table["slice_thickness_mm"].astype(np.float64))
    return {pair: i for i, pair in enumerate(dict.fromkeys(pairs))}


def _count_range(counts: pd.Series) -> str:
    """"59", or "57-59" when conditions paired different numbers."""
    low, high = int(counts.min()), int(counts.max())
    return f"{low}" if low == high else f"{low}-{high}"


def _number(value: float, template: str) -> str:
    return "n/a" if pd.isna(value) else template.format(value)
