"""Phantom QA nodes: measure test objects, plot the curves, track metrics, show the nodules.

They need nothing but parameters, so the QA runs alone (``kedro run --pipelines
phantom_qa``) and describes the simulator whatever ``ingestion.source`` is.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from lung_fm_robustness.phantom import gallery, qa, qa_objects
from lung_fm_robustness.phantom.qa_figures import qa_curves_figure
from lung_fm_robustness.phantom.study import PhantomConfig

logger = logging.getLogger(__name__)


def measure_phantom(
    phantom: dict[str, Any], phantom_qa: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The QA table (measured vs target per quantity, kernel, thickness) and the curves."""
    config = PhantomConfig.from_params(phantom)
    table, curves = qa.measure_phantom(config, qa.tolerances_from_params(phantom_qa))
    failed = table[~table["passed"]]
    if failed.empty:
        logger.info("Phantom QA: all %d checks pass.", len(table))
    else:
        logger.warning(
            "Phantom QA: %d of %d checks fail: %s",
            len(failed),
            len(table),
            "; ".join(
                f"{r.quantity} {r.kernel} {r.slice_thickness_mm:.1f} mm: "
                f"{r.measured:.3g} vs {r.target:.3g}"
                for r in failed.itertuples()
            ),
        )
    nyquist = 0.5 / config.pixel_spacing_mm
    beyond = [k for k in config.kernels if config.kernel_specs[k].mtf10_lpmm > nyquist]
    if beyond:
        logger.info(
            "Phantom QA: the MTF is measured on a %.2f mm grid; the study's %.2f mm pixels pass "
            "frequencies up to %.2f lp/mm, below the MTF10 of %s.",
            qa_objects.EDGE_PIXEL_MM,
            config.pixel_spacing_mm,
            nyquist,
            ", ".join(beyond),
        )
    return table, curves


def plot_qa_curves(curves: pd.DataFrame, table: pd.DataFrame, phantom: dict[str, Any]) -> Figure:
    """MTF and NPS per kernel and the slice profiles, as measured."""
    return qa_curves_figure(curves, table, PhantomConfig.from_params(phantom).pixel_spacing_mm)


def qa_metrics_for_tracking(table: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """Measured values as MLflow metrics, keys like ``phantom_qa.sharp_1.0.mtf50``."""
    return {key: {"value": value, "step": 0} for key, value in qa.qa_metrics(table).items()}


def draw_nodule_gallery(phantom: dict[str, Any]) -> Figure:
    """One nodule of each type (rows) under every reconstruction (columns)."""
    config = PhantomConfig.from_params(phantom)
    conditions = [(k, t) for k in config.kernels for t in config.slice_thicknesses_mm]
    return gallery.gallery_figure(gallery.gallery_rows(config), conditions)
