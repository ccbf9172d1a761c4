"""One nodule of each type under every reconstruction: the phantom's nodules at a glance.

Drawing a patient is cheap, so the first patient of each type is found by drawing; only
those few are rendered and reconstructed. Each panel is the axial slice through the
nodule centre, cropped around the nodule, in the lung window (W1500 / L-600), with a
5 mm scale bar; rows are nodule types, columns conditions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from matplotlib.figure import Figure

from lung_fm_robustness.phantom import study
from lung_fm_robustness.phantom.nodules import NODULE_TYPES

LUNG_WINDOW_HU = (-600.0 - 750.0, -600.0 + 750.0)  # level -600, width 1500
CROP_MARGIN_MM = 4.0  # around the nodule's reach (spikes included)
MIN_CROP_HALF_WIDTH_MM = 10.0
SCALE_BAR_MM = 5.0


@dataclass(frozen=True)
class GalleryRow:
    """One nodule type: its first patient (if any) and a crop per condition."""

    nodule_type: str
    label: str
    crops: dict[tuple[str, float], tuple[np.ndarray, tuple[float, float, float, float]]]


def first_patient_of_each_type(config: study.PhantomConfig) -> dict[str, int | None]:
    """Index of the first patient whose nodule is of each type (None: no such patient)."""
    first: dict[str, int | None] = dict.fromkeys(NODULE_TYPES)
    for index in range(config.n_patients):
        nodule_type = study.draw_patient(config, index).nodule.nodule_type
        if first[nodule_type] is None:
            first[nodule_type] = index
        if all(i is not None for i in first.values()):
            break
    return first


def _crop(image: sitk.Image, centre: tuple[float, float, float], half_width_mm: float):
    """Axial slice through ``centre`` within ``half_width_mm``; extent in mm from the centre."""
    ix, iy, iz = image.TransformPhysicalPointToIndex(centre)
    pixel = image.GetSpacing()[0]
    reach = math.ceil(half_width_mm / pixel)
    size_x, size_y = image.GetSize()[:2]
    x0, x1 = max(ix - reach, 0), min(ix + reach + 1, size_x)
    y0, y1 = max(iy - reach, 0), min(iy + reach + 1, size_y)
    array = sitk.GetArrayViewFromImage(image)[iz, y0:y1, x0:x1].copy()
    # Offsets of the crop's outer pixel edges from the centre: x right, y down (anterior up).
    origin = image.TransformIndexToPhysicalPoint((x0, y0, iz))
    left = origin[0] - pixel / 2 - centre[0]
    top = origin[1] - pixel / 2 - centre[1]
    return array, (left, left + (x1 - x0) * pixel, top + (y1 - y0) * pixel, top)


def gallery_rows(config: study.PhantomConfig) -> list[GalleryRow]:
    """Simulate the first patient of each type and crop it in every condition."""
    rows = []
    for nodule_type, index in first_patient_of_each_type(config).items():
        if index is None:
            label = f"{nodule_type}\n(none among the\n{config.n_patients} patients)"
            rows.append(GalleryRow(nodule_type, label, {}))
            continue
        spec = study.draw_patient(config, index)
        nodule = spec.nodule
        acquisition = study.render_acquisition(config, spec)
        centre = study.nodule_centre_lps(spec)
        half_width = max(MIN_CROP_HALF_WIDTH_MM, nodule.extent_mm() + CROP_MARGIN_MM)
        crops = {
            (kernel, thickness): _crop(
                study.reconstruct(config, acquisition, kernel, thickness), centre, half_width
            )
            for kernel in config.kernels
            for thickness in config.slice_thicknesses_mm
        }
        contact = ", juxtapleural" if nodule.juxtapleural else ""
        label = (
            f"{nodule_type}\n{spec.patient_id}: {nodule.diameter_mm:.1f} mm\n"
            f"{nodule.margin}{contact}"
        )
        rows.append(GalleryRow(nodule_type, label, crops))
    return rows


def gallery_figure(rows: list[GalleryRow], conditions: list[tuple[str, float]]) -> Figure:
    """Rows: nodule types; columns: conditions; lung window, scale bar in every panel."""
    figure = Figure(
        figsize=(1.7 * len(conditions) + 1.2, 1.8 * len(rows) + 0.8), layout="constrained"
    )
    axes = figure.subplots(len(rows), len(conditions), squeeze=False)
    low, high = LUNG_WINDOW_HU
    for r, row in enumerate(rows):
        for c, condition in enumerate(conditions):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{condition[0]} {condition[1]:.1f} mm", fontsize="small")
            if c == 0:
                ax.set_ylabel(row.label, fontsize="small")
            if condition not in row.crops:
                for spine in ax.spines.values():
                    spine.set_visible(False)
                continue
            array, extent = row.crops[condition]
            ax.imshow(array, cmap="gray", vmin=low, vmax=high, extent=extent)
            x0, x1, y1, y0 = extent
            bar_x = x0 + 0.08 * (x1 - x0)
            bar_y = y1 - 0.08 * (y1 - y0)
            ax.plot([bar_x, bar_x + SCALE_BAR_MM], [bar_y, bar_y], color="yellow", linewidth=2)
            ax.text(
                bar_x,
                bar_y - 0.03 * (y1 - y0),
                f"{SCALE_BAR_MM:g} mm",
                color="yellow",
                fontsize="x-small",
                va="bottom",
            )
    figure.suptitle(
        "One nodule of each type: axial slice through its centre, lung window W1500 / L-600"
    )
    return figure
