"""The report's figures beyond the CCC distributions: a per-feature heatmap and Bland-Altman plots.

Built on ``matplotlib.figure.Figure`` directly, as ``report.ccc_distribution_figure``: no pyplot
state, so they render headless in Kedro and inline in notebooks alike.
"""

from statistics import NormalDist

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from .feature_classes import class_rank
from .study import Condition

# Colour scale of the heatmap: fixed, so heatmaps of different runs compare at a glance.
HEATMAP_LOWEST = 0.0
LIMITS_OF_AGREEMENT = 0.95


def ccc_heatmap_figure(
    per_feature: pd.DataFrame, conditions: list[Condition], threshold: float, title: str
) -> Figure:
    """Features x conditions CCC, one extractor's features (e.g. PyRadiomics' 93).

    Rows grouped by feature class (PyRadiomics' order), most robust first within a class (mean
    CCC over the conditions); a diverging colour scale centred on the strong-agreement
    threshold, so red is "below threshold" at a glance; grey cells are undefined.

    Args:
        per_feature: rows of one extractor (feature, feature_class, kernel, slice_thickness_mm,
            ccc).
        conditions: the columns, in this order.
        threshold: the centre of the colour scale.
        title: the figure's title (name the extractor).
    """
    columns = pd.MultiIndex.from_tuples([(c.kernel, c.slice_thickness_mm) for c in conditions])
    grid = (
        per_feature.set_index(["feature_class", "feature", "kernel", "slice_thickness_mm"])["ccc"]
        .unstack(["kernel", "slice_thickness_mm"])
        .reindex(columns=columns)
    )
    mean = grid.mean(axis=1)
    rows = sorted(grid.index, key=lambda key: (class_rank(key[0]), -np.nan_to_num(mean[key], nan=-2.0), key[1]))
    grid = grid.loc[rows]

    height = 1.6 + 0.13 * len(grid)
    figure = Figure(figsize=(2.6 + 0.9 * len(conditions), height), layout="constrained")
    ax = figure.subplots()
    cmap = colormaps["RdBu"].with_extremes(bad="lightgrey")
    lowest, highest = min(HEATMAP_LOWEST, threshold - 0.1), max(1.0, threshold + 1e-3)
    norm = TwoSlopeNorm(vcenter=threshold, vmin=lowest, vmax=highest)
    image = ax.imshow(np.ma.masked_invalid(grid.to_numpy()), aspect="auto", cmap=cmap, norm=norm, interpolation="none")
    ax.set_xticks(range(len(conditions)), [f"{c.kernel}\n{c.slice_thickness_mm:.1f} mm" for c in conditions])
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(grid)), [_short_name(feature_class, feature) for feature_class, feature in grid.index])
    ax.tick_params(axis="y", labelsize=6.5, length=0)
    classes = [feature_class for feature_class, _ in grid.index]
    for row in range(1, len(classes)):
        if classes[row] != classes[row - 1]:
            ax.axhline(row - 0.5, color="black", linewidth=0.8)
    colorbar = figure.colorbar(image, ax=ax, extend="min", shrink=min(1.0, 12.0 / height), pad=0.02)
    # The two halves of the scale differ in length: tick each half on its own.
    below = np.linspace(lowest, threshold, 5)[:-1]
    colorbar.set_ticks([*below, threshold, (threshold + highest) / 2.0, highest])
    colorbar.set_label(f"CCC vs reference (centre: {threshold:g}; grey: undefined)")
    ax.set_title(title, fontsize="medium")
    return figure


def bland_altman_figure(
    panels: list[tuple[str, float, np.ndarray, np.ndarray]],
    condition: Condition,
    reference: Condition,
    *,
    units: str = "patients",
) -> Figure:
    """Bland-Altman plot of each feature: mean of the two conditions against their difference.

    Args:
        panels: per feature, (name, its CCC, reference values, test values), paired by unit.
        condition, reference: the test and reference conditions, named on the axes.
        units: what one point is, in the title ("patients", or "nodules").

    Each panel shows the bias (mean difference) and the 95 % limits of agreement
    (bias -/+ 1.96 SD of the differences, SD with n - 1).
    """
    figure = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    z = NormalDist().inv_cdf(0.5 + LIMITS_OF_AGREEMENT / 2.0)
    for ax, (name, ccc, reference_values, test_values) in zip(axes, panels):
        mean = (reference_values + test_values) / 2.0
        difference = test_values - reference_values
        bias = difference.mean()
        spread = z * difference.std(ddof=1)
        ax.scatter(mean, difference, s=14, alpha=0.75, color="tab:blue", edgecolor="none")
        ax.axhline(bias, color="black", linewidth=1, label=f"bias {bias:.4g}")
        for limit in (bias - spread, bias + spread):
            ax.axhline(limit, color="tab:red", linestyle="--", linewidth=1)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.plot([], [], color="tab:red", linestyle="--", label=f"95 % limits {bias - spread:.4g}, {bias + spread:.4g}")
        ax.set_title(f"{name}\nCCC = {ccc:.3f}", fontsize="medium")
        ax.set_xlabel(f"mean of {condition.label} and {reference.label}")
        ax.set_ylabel(f"{condition.label} - {reference.label}")
        ax.legend(fontsize="small", loc="best")
    figure.suptitle(
        f"Bland-Altman: {condition.label} vs the reference {reference.label} "
        f"({len(panels[0][2])} {units})"
    )
    return figure


def _short_name(feature_class: str, feature: str) -> str:
    """"original_glcm_Contrast" -> "glcm: Contrast" (the image type is the same for all)."""
    parts = feature.split("_", 2)
    return f"{feature_class}: {parts[2]}" if len(parts) == 3 else feature
