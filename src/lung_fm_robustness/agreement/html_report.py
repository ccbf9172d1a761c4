"""The study's agreement report: one self-contained HTML page a reviewer can read offline.

Tables, figures (PNG embedded as base64) and the run's provenance in one file, so the report
can be mailed, archived or attached to an MLflow run without losing anything.
"""

import base64
import html
import io
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .ccc import MCBRIDE_BANDS
from .coefficients import DESCRIPTIONS
from .feature_classes import class_rank
from .figures import LIMITS_OF_AGREEMENT, bland_altman_figure, ccc_heatmap_figure
from .report import ccc_distribution_figure, units_text
from .run_metadata import RunMetadata
from .study import Condition, PairedCondition, study_order

OUTPUT_FILES = {
    "agreement_summary.csv": "CCC summary per extractor and condition",
    "agreement_summary_ci.csv": "every coefficient's summaries with bootstrap intervals",
    "agreement_per_feature.parquet": "every feature's CCC, interval, parts and band (and ICCs)",
    "agreement_by_feature_class.csv": "CCC summary per feature class",
    "agreement_kernel_vs_thickness.csv": "mean CCC by kernel and by slice thickness",
}
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 72rem;
       margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.88rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e3e3e3; text-align: right; }
td { white-space: nowrap; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
table.meta td, table.meta th { text-align: left; vertical-align: top; white-space: normal; }
code { font-size: 0.85rem; word-break: break-all; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
p.note { color: #555; font-size: 0.9rem; }
"""


def agreement_report_html(
    metadata: RunMetadata,
    extractor_labels: dict[str, str],
    per_feature: pd.DataFrame,
    summary_ci: pd.DataFrame,
    by_class: pd.DataFrame,
    kernel_thickness: pd.DataFrame,
    radiomics_pairs: dict[Condition, PairedCondition],
) -> str:
    """The whole report.

    Args:
        metadata: the run's provenance and settings.
        extractor_labels: what each extractor was, as every table names it.
        per_feature, summary_ci, by_class, kernel_thickness: the pipeline's tables.
        radiomics_pairs: the radiomics features paired by unit per condition, for the
            Bland-Altman plots of the least and most robust radiomics features under the
            condition with the lowest mean radiomics CCC.
    """
    conditions = sorted(
        {Condition(k, t) for k, t in zip(per_feature["kernel"], per_feature["slice_thickness_mm"])},
        key=study_order,
    )
    sections = [
        _run_section(metadata, extractor_labels),
        _summary_section(summary_ci, metadata),
        _figure_section(
            "CCC distributions",
            ccc_distribution_figure(per_feature, extractor_labels, metadata.threshold),
            "Per-feature CCC per condition; the dashed line is the strong-agreement threshold.",
        ),
        _mcbride_section(per_feature),
        _class_section(by_class, conditions),
        _kernel_thickness_section(kernel_thickness, metadata.reference),
    ]
    radiomics = per_feature[per_feature["extractor"] == "radiomics"]
    sections += [
        _figure_section(
            "Radiomics features by condition",
            ccc_heatmap_figure(radiomics, conditions, metadata.threshold, extractor_labels["radiomics"]),
            "Rows grouped by PyRadiomics class, most robust first within a class. The colour "
            f"scale is centred on the threshold {metadata.threshold:g}: blue at or above it, "
            "red below; grey cells are undefined.",
        ),
        _bland_altman_section(radiomics, radiomics_pairs, metadata),
        _methods_section(metadata),
    ]
    title = "Robustness of imaging features to CT reconstruction: agreement report"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            f'<head><meta charset="utf-8"><title>{title}</title><style>{_STYLE}</style></head>',
            "<body>",
            f"<h1>{title}</h1>",
            (
                f"<p>Agreement of every feature under each reconstruction condition with the reference "
                f"reconstruction <b>{_e(_condition_text(metadata.reference))}</b>, over "
                f"{units_text(metadata.n_patients, metadata.n_nodules)} ({_e(metadata.data_source)} data).</p>"
            ),
            *sections,
            "</body>",
            "</html>",
        ]
    ) + "\n"


def embedded_png(figure: Figure, alt: str) -> str:
    """An ``<img>`` holding the figure as a base64 PNG (no file beside the report)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _run_section(metadata: RunMetadata, labels: dict[str, str]) -> str:
    rows = []
    for extractor in metadata.extractors:
        rows.append((f"Extractor <code>{_e(extractor.name)}</code>", _e(labels[extractor.name])))
        if extractor.name == "fm":
            sha = (
                f"<code>{_e(extractor.weights_sha256)}</code>"
                if extractor.weights_sha256
                else "none: random-init control network, not the foundation model"
            )
            rows.append(("FM weights sha256", sha))
            rows.append(("FM resampling mode", _e(extractor.resampling or "n/a")))
    rows += [
        ("Data source", _e(metadata.data_source)),
        ("Patients (scan table)", str(metadata.n_patients)),
        *([("Nodules (scan table)", str(metadata.n_nodules))] if metadata.n_nodules is not None else []),
        ("Conditions", ", ".join(_e(_condition_text(c)) for c in metadata.conditions)),
        ("Reference condition", _e(_condition_text(metadata.reference))),
        ("Strong agreement", f"coefficient ≥ {metadata.threshold:g}"),
        ("Coefficients", ", ".join(_e(DESCRIPTIONS[m]) for m in metadata.metrics)),
        (
            "Intervals",
            (
                f"{metadata.confidence:.0%} per-feature Lin (2000) asymptotic intervals; "
                f"{metadata.confidence:.0%} percentile bootstrap intervals over patients"
                f"{' (each with all of its nodules)' if metadata.n_nodules is not None else ''}, "
                f"{metadata.n_resamples} resamples, seed {metadata.seed}"
            ),
        ),
        ("Software", ", ".join(f"{_e(k)} {_e(v)}" for k, v in metadata.software.items())),
    ]
    body = "".join(f'<tr><th class="text">{k}</th><td class="text">{v}</td></tr>' for k, v in rows)
    return f'<h2>Run</h2><table class="meta">{body}</table>'


def _summary_section(summary_ci: pd.DataFrame, metadata: RunMetadata) -> str:
    parts = ["<h2>Summary</h2>"]
    level = f"{metadata.confidence:.0%}"
    for metric in metadata.metrics:
        rows = _in_study_order(summary_ci[summary_ci["metric"] == metric])
        nodules = bool((rows["n_units"] != rows["n_patients"]).any())
        header = [
            "Extractor", "Kernel", "Slice (mm)", "Patients", *(["Nodules"] if nodules else []),
            "Features", "Undefined",
            f"Mean [{level} CI]", f"Median [{level} CI]",
            f"% ≥ {metadata.threshold:g} [{level} CI]", "Undefined per resample (mean / max)",
        ]  # fmt: skip
        body = [
            [
                _e(row.extractor), _e(row.kernel), f"{row.slice_thickness_mm:.1f}",
                str(row.n_patients), *([str(row.n_units)] if nodules else []),
                str(row.n_features), str(row.n_undefined),
                _estimate(row.mean, row.mean_ci_low, row.mean_ci_high, "{:.3f}"),
                _estimate(row.median, row.median_ci_low, row.median_ci_high, "{:.3f}"),
                _estimate(row.pct_strong, row.pct_strong_ci_low, row.pct_strong_ci_high, "{:.1f}"),
                f"{row.undefined_per_resample_mean:.1f} / {row.undefined_per_resample_max}",
            ]
            for row in rows.itertuples(index=False)
        ]  # fmt: skip
        parts.append(f"<h3>{_e(DESCRIPTIONS[metric])}</h3>" + _table(header, body, text_columns=3))
    parts.append(
        '<p class="note">Means, medians and percentages are over the features with a defined '
        "coefficient; undefined features (constant in both conditions, or non-finite) are counted, "
        "never dropped or scored 0 or 1. A feature that becomes constant over the patients of a "
        "bootstrap resample is left out of that resample's summaries; the last column says how many "
        "features a resample leaves out.</p>"
    )
    return "".join(parts)


def _mcbride_section(per_feature: pd.DataFrame) -> str:
    bands = per_feature["mcbride_band"].fillna("undefined")
    counts = (
        per_feature.assign(band=bands)
        .groupby(["extractor", "kernel", "slice_thickness_mm"])["band"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(columns=[*MCBRIDE_BANDS, "undefined"], fill_value=0)
        .reset_index()
    )
    header = [
        "Extractor", "Kernel", "Slice (mm)",
        "Poor (< 0.90)", "Moderate", "Substantial", "Almost perfect (> 0.99)", "Undefined",
    ]  # fmt: skip
    body = [
        [_e(row["extractor"]), _e(row["kernel"]), f"{row['slice_thickness_mm']:.1f}"]
        + [str(int(row[band])) for band in [*MCBRIDE_BANDS, "undefined"]]
        for _, row in _in_study_order(counts).iterrows()
    ]
    return (
        "<h2>McBride strength of agreement</h2>"
        '<p class="note">Number of features per McBride (2005) band of the CCC point estimate: '
        "poor &lt; 0.90 ≤ moderate &lt; 0.95 ≤ substantial ≤ 0.99 &lt; almost perfect.</p>"
        + _table(header, body, text_columns=2)
    )


def _class_section(by_class: pd.DataFrame, conditions: Sequence[Condition]) -> str:
    header = ["Extractor", "Class", "Features"] + [f"{c.kernel} {c.slice_thickness_mm:.1f} mm" for c in conditions]
    cells = by_class.set_index(["extractor", "feature_class", "kernel", "slice_thickness_mm"]).sort_index()
    sizes = by_class.groupby(["extractor", "feature_class"])["n_features"].max()
    body = []
    for extractor, feature_class in sorted(sizes.index, key=lambda g: (g[0], class_rank(g[1]))):
        row = [_e(extractor), _e(feature_class), str(sizes[(extractor, feature_class)])]
        for c in conditions:
            key = (extractor, feature_class, c.kernel, c.slice_thickness_mm)
            if key in cells.index:
                mean, pct = cells.loc[key, ["mean_ccc", "pct_strong"]]
                row.append(f"{_number(mean, '{:.3f}')} ({_number(pct, '{:.0f}')} %)")
            else:
                row.append("—")
        body.append(row)
    threshold = float(by_class["threshold"].iloc[0])
    return (
        "<h2>By feature class</h2>"
        f'<p class="note">Mean CCC (% of features with CCC ≥ {threshold:g}) per feature class '
        "and condition.</p>" + _table(header, body, text_columns=2)
    )


def _kernel_thickness_section(kernel_thickness: pd.DataFrame, reference: Condition) -> str:
    parts = [
        "<h2>Kernel versus slice thickness</h2>",
        '<p class="note">Mean CCC per kernel (columns) and slice thickness (rows); read along a row '
        "for the kernel's effect at that thickness, down a column for the thickness's effect with "
        f"that kernel. The reference {_e(_condition_text(reference))} agrees with itself (1 by definition). The "
        "ranges are max − min over the row or column.</p>",
    ]
    grid = kernel_thickness[kernel_thickness["varied"] == "kernel"]
    for extractor, rows in grid.groupby("extractor", sort=True):
        kernels = sorted(set(rows["kernel"]), key=lambda k: study_order(Condition(k, 0.0)))
        thicknesses = sorted(set(rows["slice_thickness_mm"]))
        cells = rows.set_index(["kernel", "slice_thickness_mm"])
        header = ["Slice (mm)", *kernels, "Range across kernels"]
        body = []
        for thickness in thicknesses:
            row = [f"{thickness:.1f}"]
            for kernel in kernels:
                if (kernel, thickness) not in cells.index:
                    row.append("—")
                    continue
                cell = cells.loc[(kernel, thickness)]
                text = _number(cell["mean_ccc"], "{:.3f}")
                row.append(f"<i>{text} (ref.)</i>" if cell["is_reference"] else text)
            row.append(_number(rows.loc[rows["slice_thickness_mm"] == thickness, "mean_ccc_range"].iloc[0], "{:.3f}"))
            body.append(row)
        thickness_rows = kernel_thickness[
            (kernel_thickness["varied"] == "slice_thickness_mm") & (kernel_thickness["extractor"] == extractor)
        ]
        ranges = thickness_rows.groupby("kernel")["mean_ccc_range"].first()
        body.append(["Range across thicknesses", *(_number(ranges.get(k, np.nan), "{:.3f}") for k in kernels), ""])
        parts.append(f"<h3>{_e(extractor)}</h3>" + _table(header, body, text_columns=1))
    return "".join(parts)


def _bland_altman_section(
    radiomics: pd.DataFrame, pairs: dict[Condition, PairedCondition], metadata: RunMetadata
) -> str:
    means = radiomics.groupby(["kernel", "slice_thickness_mm"])["ccc"].mean().dropna()
    if means.empty:
        return "<h2>Bland-Altman plots</h2><p>No radiomics feature has a defined CCC.</p>"
    worst = Condition(*means.idxmin())
    ccc = radiomics[
        (radiomics["kernel"] == worst.kernel) & (radiomics["slice_thickness_mm"] == worst.slice_thickness_mm)
    ].set_index("feature")["ccc"].dropna()
    pair = pairs[worst]
    unit = "nodule" if pair.n_units != pair.n_patients else "patient"
    chosen = [("least robust", ccc.idxmin()), ("most robust", ccc.idxmax())]
    panels = []
    for role, feature in chosen:
        column = pair.features.index(feature)
        panels.append((f"{role}: {feature}", float(ccc[feature]), pair.reference[:, column], pair.test[:, column]))
    named = " and ".join(f"<code>{_e(feature)}</code> (CCC {ccc[feature]:.3f})" for _, feature in chosen)
    return _figure_section(
        "Bland-Altman plots",
        bland_altman_figure(panels, worst, metadata.reference, units=unit + "s"),
        f"The least and most robust radiomics features under {_e(worst.label)}, the condition with "
        f"the lowest mean radiomics CCC ({means.min():.3f}): {named}. Difference against mean of the "
        f"two conditions, per {unit}, with the bias and the {LIMITS_OF_AGREEMENT:.0%} limits of "
        "agreement (bias ± 1.96 SD of the differences).",
    )


def _methods_section(metadata: RunMetadata) -> str:
    outputs = "".join(f"<li><code>{_e(name)}</code>: {_e(text)}</li>" for name, text in OUTPUT_FILES.items())
    units = "patients" if metadata.n_nodules is None else "nodules"
    icc = (
        f"<li><b>ICC</b> (Shrout &amp; Fleiss 1979) from the two-way ANOVA of the {units} × 2 "
        "conditions matrix: ICC(3,1) consistency, ICC(2,1) absolute agreement.</li>"
        if set(metadata.metrics) - {"ccc"}
        else ""
    )
    return f"""<h2>Methods</h2>
<ul>
<li><b>Lin's CCC</b> with 1/n moments (Lin 1989):
  ccc = 2 s<sub>xy</sub> / (s<sub>x</sub>² + s<sub>y</sub>² + (x̄ − ȳ)²) = r · C<sub>b</sub>, over
  {_units_text(metadata)}; x the reference, y the test condition. C<sub>b</sub> = 2 / (v + 1/v + u²)
  with scale shift v = s<sub>y</sub>/s<sub>x</sub> and location shift
  u = (ȳ − x̄)/√(s<sub>x</sub>s<sub>y</sub>).</li>
<li><b>Per-feature interval</b>: Lin's (1989, corrected 2000) asymptotic variance on Fisher's z
  scale, as R epiR::epi.ccc and DescTools::CCC, at {metadata.confidence:.0%}.</li>
{icc}<li><b>Bootstrap</b>: {metadata.n_resamples} resamples of the patients with replacement (seed
  {metadata.seed}), one draw shared by every extractor, condition and coefficient; each resample
  recomputes every feature's coefficient and the summaries; {metadata.confidence:.0%} percentile
  intervals.{_cluster_text(metadata)} Features undefined in the full sample are undefined in every resample; a feature
  constant in both conditions over a resample's patients is left out of that resample. A resample
  repeats patients, which lowers coefficients a little, so the intervals can sit below the
  estimate, more so with few patients or a percentage near 100 %.</li>
<li><b>Undefined</b> coefficients (feature constant in both conditions, non-finite values, fewer
  than two patients) are counted and never reported as 0 or 1.</li>
</ul>
<p>Tables of this report, in <code>data/08_reporting/</code> and in the MLflow run:</p><ul>{outputs}</ul>"""


def _figure_section(title: str, figure: Figure, caption: str) -> str:
    return f'<h2>{_e(title)}</h2>{embedded_png(figure, title)}<p class="note">{caption}</p>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, text_columns: int) -> str:
    """An HTML table; the first ``text_columns`` columns left-aligned. Cells are already HTML."""
    def cells(values: Sequence[str], tag: str) -> str:
        return "".join(
            f'<{tag} class="text">{v}</{tag}>' if i < text_columns else f"<{tag}>{v}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f"<table><thead><tr>{cells([_e(h) for h in header], 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _in_study_order(table: pd.DataFrame) -> pd.DataFrame:
    keys = [
        (extractor, study_order(Condition(kernel, thickness)))
        for extractor, kernel, thickness in zip(table["extractor"], table["kernel"], table["slice_thickness_mm"])
    ]
    return table.iloc[sorted(range(len(table)), key=keys.__getitem__)]


def _estimate(value: float, low: float, high: float, template: str) -> str:
    if pd.isna(value):
        return "n/a"
    return f"{template.format(value)} [{_number(low, template)}, {_number(high, template)}]"


def _number(value: float, template: str) -> str:
    return "n/a" if pd.isna(value) else template.format(value)


def _units_text(metadata: RunMetadata) -> str:
    if metadata.n_nodules is None:
        return "patients paired by patient id"
    return (
        "nodules paired by patient id and nodule id (the per-feature interval treats the nodules "
        "as independent; the bootstrap intervals do not)"
    )


def _cluster_text(metadata: RunMetadata) -> str:
    if metadata.n_nodules is None:
        return ""
    return (
        " Each drawn patient brings all of its nodules (a cluster bootstrap): nodules of one "
        "patient are never treated as independent."
    )


def _condition_text(condition: Condition) -> str:
    return f"{condition.kernel} kernel, {condition.slice_thickness_mm:.1f} mm"


def _e(text: object) -> str:
    return html.escape(str(text))
