"""A picture of FMCIB input cubes: the mid-slices the network sees, to check crops by eye."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from lung_fm_robustness.fm.cube import CUBE_SIZE, hu_to_fmcib_intensity

LUNG_WINDOW_HU = (-600.0, 1500.0)  # level, width
PLANES = ("axial", "coronal", "sagittal")


def window_in_cube_units(level: float, width: float) -> tuple[float, float]:
    """A CT window (HU) as the display range of a cube, whose voxels hold (HU + 1024) / 3072."""
    low, high = hu_to_fmcib_intensity(np.array([level - width / 2, level + width / 2]))
    return float(low), float(high)


def mid_slices(cube: np.ndarray) -> dict[str, np.ndarray]:
    """The three planes through the cube's centre voxel (where an unclamped seed sits), as
    radiologists view them: patient's left on the right, anterior and superior at the top.

    The cube is (z, y, x) with axes towards superior, posterior and left.
    """
    c = CUBE_SIZE // 2
    return {
        "axial": cube[c],  # rows anterior -> posterior, columns right -> left
        "coronal": cube[::-1, c, :],  # rows superior -> inferior, columns right -> left
        "sagittal": cube[::-1, :, c],  # rows superior -> inferior, columns anterior -> posterior
    }


def cube_montage_figure(
    cubes: Mapping[tuple[str, str], np.ndarray],
    patients: Sequence[str],
    conditions: Sequence[str],
    title: str,
) -> Figure:
    """One column per condition, three rows (axial, coronal, sagittal) per patient, in the
    lung window; ``cubes[(patient, condition)]`` is a (z, y, x) cube, absent ones blank.

    Built on ``matplotlib.figure.Figure`` directly: no pyplot state, works headless.
    """
    low, high = window_in_cube_units(*LUNG_WINDOW_HU)
    n_rows, n_cols = len(patients) * len(PLANES), len(conditions)
    figure = Figure(figsize=(1.4 * n_cols + 1.2, 1.4 * n_rows + 0.8), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for p, patient in enumerate(patients):
        for k, condition in enumerate(conditions):
            cube = cubes.get((patient, condition))
            slices = mid_slices(cube) if cube is not None else {}
            for i, plane in enumerate(PLANES):
                ax = axes[p * len(PLANES) + i, k]
                ax.set_xticks([])
                ax.set_yticks([])
                if plane in slices:
                    ax.imshow(slices[plane], cmap="gray", vmin=low, vmax=high)
                if p == 0 and i == 0:
                    ax.set_title(condition, fontsize="small")
                if k == 0:
                    ax.set_ylabel(f"{patient}\n{plane}", fontsize="small")
    level, width = LUNG_WINDOW_HU
    figure.suptitle(
        f"{title}: mid-slices, lung window W{width:g} / L{level:g} HU", fontsize="medium"
    )
    return figure
