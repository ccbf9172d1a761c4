"""The study's agreement table, CCC distribution figure and MLflow metrics.

Every output names each extractor by the label it is given (model and weights version, or the
random-init control), so a result can never be read as another model's.
"""

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .bootstrap import STATISTICS
from .study import CONDITION_COLUMNS, Condition, study_order

# Fixed CCC axis so figures of different runs compare at a glance; lower values are clipped
# onto the bottom edge and counted in an annotation.
CCC_AXIS_RANGE = (-0.2, 1.0)
METRIC_NAMES = ("mean_ccc", "median_ccc", "pct_strong", "n_undefined")


def study_table_markdown(
    summary: pd.DataFrame,
    extractor_labels: dict[str, str],
    reference: Condition,
    threshold: float,
    *,
    n_patients: int | None = None,
    n_units: int | None = None,
) -> str:
    """Markdown table laid out like the study's: one row per condition, per extractor the mean
    CCC and the % of features with CCC >= threshold.

    Args:
        summary: output of :func:`summarise_agreement`, computed with ``threshold``.
        extractor_labels: label of every extractor in ``summary``, shown in the legend that
            maps the column headers' extractor names to what each extractor was.
        reference: the reference condition, named in the caption.
        threshold: strong-agreement threshold, named in the caption and header.
        n_patients: patients paired, named in the caption when given.
        n_units: nodules paired, named in the caption ("n = 24 nodules of 8 patients") when
            given and different from ``n_patients`` (several nodules per patient).

    An extractor with undefined CCCs under some condition gets an extra column "k of F".
    """
    extractors = _extractors(summary["extractor"], extractor_labels)
    if not np.allclose(summary["threshold"].to_numpy(np.float64), threshold):
        raise ValueError(
            f"summary was computed with threshold(s) {sorted(set(summary['threshold']))}, "
            f"not {threshold}: its pct_strong would be mislabelled."
        )
    rows = summary.set_index(["extractor", *CONDITION_COLUMNS])
    conditions = _conditions(summary)

    header = ["Kernel", "Slice thickness (mm)"]
    for extractor in extractors:
        header += [f"{extractor}: mean CCC", f"{extractor}: % CCC ≥ {threshold:g}"]
        if _has_undefined(rows, extractor):
            header.append(f"{extractor}: undefined features")

    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    for condition in conditions:
        cells = [condition.kernel, f"{condition.slice_thickness_mm:.1f}"]
        for extractor in extractors:
            key = (extractor, condition.kernel, condition.slice_thickness_mm)
            row = rows.loc[key] if key in rows.index else None
            cells += [
                _number(row, "mean_ccc", "{:.3f}"),
                _number(row, "pct_strong", "{:.1f}"),
            ]
            if _has_undefined(rows, extractor):
                cells.append(
                    "—" if row is None else f"{row['n_undefined']:.0f} of {row['n_features']:.0f}"
                )
        lines.append("| " + " | ".join(cells) + " |")

    patients = f", n = {units_text(n_patients, None if n_units == n_patients else n_units)}" if n_patients is not None else ""
    caption = (
        f"Lin's CCC of each feature against the reference reconstruction ({reference.kernel} "
        f"kernel, {reference.slice_thickness_mm:.1f} mm){patients}; strong agreement: "
        f"CCC ≥ {threshold:g}. Means and percentages are over features with a defined CCC."
    )
    legend = "Extractors: " + "; ".join(
        f"`{extractor}` = {_escape(extractor_labels[extractor])}" for extractor in extractors
    ) + "."
    return "\n".join([caption, "", legend, "", *lines]) + "\n"


def units_text(n_patients: int | str, n_units: int | str | None = None) -> str:
    """"59 patients", or "24 nodules of 8 patients" when the paired units are nodules
    (counts or ranges such as "57-59")."""
    if n_units is None:
        return f"{n_patients} patients"
    return f"{n_units} nodules of {n_patients} patients"


def ccc_distribution_figure(
    per_feature: pd.DataFrame, extractor_labels: dict[str, str], threshold: float
) -> Figure:
    """Box plots of per-feature CCC, one panel per extractor and one box per condition.

    Built on ``matplotlib.figure.Figure`` directly: no pyplot state and no backend switch, so it
    works headless in Kedro and inline in notebooks alike.
    """
    extractors = _extractors(per_feature["extractor"], extractor_labels)
    conditions = _conditions(per_feature)
    low, high = CCC_AXIS_RANGE
    figure = Figure(
        figsize=(max(6.0, 1.3 * len(conditions) + 2.0), 3.5 * len(extractors)),
        layout="constrained",
    )
    axes = figure.subplots(len(extractors), 1, squeeze=False)[:, 0]
    for ax, extractor in zip(axes, extractors):
        rows = per_feature[per_feature["extractor"] == extractor]
        ccc_by_condition = {
            Condition(k, t): group["ccc"].to_numpy(np.float64)
            for (k, t), group in rows.groupby(CONDITION_COLUMNS, sort=True)
        }
        boxes = []
        for position, condition in enumerate(conditions):
            ccc = ccc_by_condition.get(condition, np.array([]))
            defined = ccc[~np.isnan(ccc)]
            boxes.append(np.clip(defined, low, None))
            notes = []
            if (defined < low).any():
                notes.append(f"{(defined < low).sum()} below {low:g}")
            if len(defined) < len(ccc):
                notes.append(f"{len(ccc) - len(defined)} undefined")
            if notes:
                ax.annotate(
                    "\n".join(notes),
                    (position, low),
                    xytext=(0, 4),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                    color="dimgray",
                )
        positions = range(len(conditions))
        ax.boxplot(boxes, positions=positions, widths=0.6, flierprops={"markersize": 2})
        ax.axhline(
            threshold, color="tab:red", linestyle="--", linewidth=1, label=f"CCC = {threshold:g}"
        )
        ax.set_xticks(
            positions, [f"{c.kernel}\n{c.slice_thickness_mm:.1f} mm" for c in conditions]
        )
        ax.set_ylim(low - 0.03, high + 0.03)
        ax.set_ylabel("CCC vs reference")
        ax.set_title(f"{extractor_labels[extractor]} ({rows['feature'].nunique()} features)")
        ax.legend(loc="center right", fontsize="small")
    figure.suptitle("Per-feature agreement with the reference reconstruction (Lin's CCC)")
    return figure


def agreement_metrics(summary: pd.DataFrame, summary_ci: pd.DataFrame | None = None) -> dict[str, float]:
    """Flat MLflow metrics, keyed ``"{extractor}.{kernel}_{thickness:.1f}.{name}"``.

    From ``summary``: name in ``METRIC_NAMES``, e.g. ``"fm.smooth_2.0.mean_ccc"``. From
    ``summary_ci`` (see :func:`~.bootstrap.bootstrap_summary_intervals`), for each of mean,
    median and pct_strong: the interval bounds, the summary's key plus ``_ci_low`` /
    ``_ci_high``. CCC keeps the summary's names (``mean_ccc_ci_low``, ``median_ccc_ci_high``,
    ``pct_strong_ci_low``); any other coefficient is a level of its own: ``icc3_1.mean``,
    ``icc3_1.mean_ci_low``, ``icc3_1.median``, ``icc3_1.pct_strong_ci_high``,
    ``icc3_1.n_undefined``...

    A NaN value (no feature with a defined coefficient) is left out rather than logged: MLflow
    accepts NaN, but it breaks run comparison and charts, and ``n_undefined`` already records
    that the condition has no value.
    """
    metrics = {}
    for row in summary.itertuples(index=False):
        prefix = _metric_prefix(row)
        for name in METRIC_NAMES:
            metrics[f"{prefix}.{name}"] = float(getattr(row, name))
    for row in (summary_ci.itertuples(index=False) if summary_ci is not None else ()):
        prefix = _metric_prefix(row)
        for stat in STATISTICS:
            key = f"{prefix}.{_summary_name(row.metric, stat)}"
            if row.metric != "ccc":
                metrics[key] = float(getattr(row, stat))
            metrics[f"{key}_ci_low"] = float(getattr(row, f"{stat}_ci_low"))
            metrics[f"{key}_ci_high"] = float(getattr(row, f"{stat}_ci_high"))
        if row.metric != "ccc":
            metrics[f"{prefix}.{row.metric}.n_undefined"] = float(row.n_undefined)
    return {key: value for key, value in metrics.items() if not math.isnan(value)}


def _metric_prefix(row: tuple) -> str:
    return f"{row.extractor}.{Condition(row.kernel, row.slice_thickness_mm).label}"


def _summary_name(metric: str, stat: str) -> str:
    """``mean`` of ccc is ``mean_ccc`` (the summary table's name); of icc3_1, ``icc3_1.mean``."""
    if metric == "ccc":
        return {"mean": "mean_ccc", "median": "median_ccc", "pct_strong": "pct_strong"}[stat]
    return f"{metric}.{stat}"


def _extractors(column: pd.Series, extractor_labels: dict[str, str]) -> list[str]:
    """Extractors in sorted order, as in the summary; each must have a label to print."""
    extractors = sorted(set(column))
    unlabelled = [e for e in extractors if e not in extractor_labels]
    if unlabelled:
        raise ValueError(
            f"extractor_labels has no label for {unlabelled}; every extractor shown needs one."
        )
    return extractors


def _conditions(table: pd.DataFrame) -> list[Condition]:
    """Conditions in the study's order: smooth, medium, sharp (others after, by name)."""
    conditions = {Condition(k, t) for k, t in zip(table["kernel"], table["slice_thickness_mm"])}
    return sorted(conditions, key=study_order)


def _has_undefined(rows: pd.DataFrame, extractor: str) -> bool:
    return bool((rows.loc[extractor, "n_undefined"] > 0).any())


def _number(row: pd.Series | None, column: str, template: str) -> str:
    """Formatted cell: "—" when the condition is absent, "n/a" when the value is undefined."""
    if row is None:
        return "—"
    return "n/a" if pd.isna(row[column]) else template.format(row[column])


def _escape(text: str) -> str:
    """Keep a label's "|" from splitting a Markdown table cell."""
    return text.replace("|", "\\|")
