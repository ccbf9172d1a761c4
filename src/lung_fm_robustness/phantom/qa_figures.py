"""The QA's measured curves: MTF and NPS per kernel, slice sensitivity profile per thickness.

Built on ``matplotlib.figure.Figure`` (no pyplot state), from the curves and table that
``qa.measure_phantom`` returns, so a saved run can be re-plotted.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

LINESTYLES = ("-", "--", ":", "-.")


def _rows(frame: pd.DataFrame, **equal) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, value in equal.items():
        mask &= frame[column] == value
    return frame[mask]


def qa_curves_figure(curves: pd.DataFrame, table: pd.DataFrame, pixel_spacing_mm: float) -> Figure:
    """MTF | NPS | SSP panels; targets drawn as open markers, measured values on the curves.

    The MTF is the thinnest slice's (it does not depend on thickness); the NPS is drawn for
    every thickness; the SSP for the first kernel (the in-plane kernel does not change it).
    ``pixel_spacing_mm`` is the study's pixel, whose Nyquist frequency is marked.
    """
    kernels = list(dict.fromkeys(curves["kernel"]))
    thicknesses = sorted(set(curves["slice_thickness_mm"]))
    colours = {k: f"C{i}" for i, k in enumerate(kernels)}
    figure = Figure(figsize=(15.0, 4.6), layout="constrained")
    mtf_ax, nps_ax, ssp_ax = figure.subplots(1, 3)

    thinnest = thicknesses[0]
    for kernel in kernels:
        curve = _rows(curves, curve="mtf", kernel=kernel, slice_thickness_mm=thinnest)
        mtf_ax.plot(curve["x"], curve["y"], color=colours[kernel], label=kernel)
        for quantity, level in (("mtf50", 0.5), ("mtf10", 0.1)):
            row = _rows(table, quantity=quantity, kernel=kernel, slice_thickness_mm=thinnest)
            mtf_ax.plot(row["target"], [level], "o", mfc="none", color=colours[kernel])
    nyquist = 0.5 / pixel_spacing_mm
    mtf_ax.axvline(nyquist, color="gray", linestyle=":", linewidth=1)
    mtf_ax.annotate(
        f"study pixel {pixel_spacing_mm} mm:\nNyquist {nyquist:.2f} lp/mm",
        (nyquist, 1.02),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize="x-small",
        color="dimgray",
        va="top",
    )
    for level in (0.5, 0.1):
        mtf_ax.axhline(level, color="lightgray", linewidth=0.8, zorder=0)
    mtf_ax.set(
        xlabel="spatial frequency (lp/mm)",
        ylabel="MTF",
        title="MTF, slanted edge (o: MTF50 / MTF10 targets)",
        ylim=(0.0, 1.25),
    )
    mtf_ax.legend(fontsize="small")

    for kernel in kernels:
        for style, thickness in zip(LINESTYLES, thicknesses):
            curve = _rows(curves, curve="nps", kernel=kernel, slice_thickness_mm=thickness)
            nps_ax.plot(
                curve["x"],
                curve["y"],
                linestyle=style,
                color=colours[kernel],
                label=f"{kernel} {thickness:.1f} mm",
            )
        row = _rows(table, quantity="nps_peak", kernel=kernel, slice_thickness_mm=thinnest)
        nps_ax.axvline(row["target"].iloc[0], color=colours[kernel], linewidth=0.8, alpha=0.5)
    nps_ax.set(
        xlabel="spatial frequency (lp/mm)",
        ylabel="NPS (HU² mm²)",
        title="NPS, uniform region (thin lines: predicted peaks)",
        ylim=(0.0, 1.3 * float(curves.loc[curves["curve"] == "nps", "y"].max())),
    )
    nps_ax.legend(fontsize="x-small", ncol=len(kernels), loc="upper center")

    first = kernels[0]
    for style, thickness in zip(LINESTYLES, thicknesses):
        curve = _rows(curves, curve="ssp", kernel=first, slice_thickness_mm=thickness)
        row = _rows(table, quantity="ssp_fwhm", kernel=first, slice_thickness_mm=thickness)
        label = (
            f"{thickness:.1f} mm: FWHM {row['measured'].iloc[0]:.2f} mm "
            f"(target {row['target'].iloc[0]:.2f})"
        )
        ssp_ax.plot(curve["x"], curve["y"], linestyle=style, color="black", label=label)
    ssp_ax.axhline(0.5, color="lightgray", linewidth=0.8, zorder=0)
    half_range = 1.5 * float(table.loc[table["quantity"] == "ssp_fwhm", "target"].max())
    ssp_ax.set(
        xlabel="z offset from the slice centre (mm)",
        ylabel="relative response",
        title=f"Slice sensitivity profile, inclined plate ({first})",
        xlim=(-half_range, half_range),
        ylim=(-0.05, 1.3),
    )
    ssp_ax.legend(fontsize="x-small", loc="upper left")
    figure.suptitle("Phantom QA: measured from simulated images through the study's reconstruction")
    return figure
