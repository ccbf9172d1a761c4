"""The nodule placed in the patient: true HU volume, ground-truth mask and measurements.

A juxtapleural nodule is drawn partly overlapping the chest wall; only its lung-side part
is nodule (broad-based pleural contact), so its occupancy is the nodule's times the lung
fraction. Rendering cuts it at the pleura the same way, masks and truth use
``nodule_occupancy_and_hu``, so all three agree.
"""

from __future__ import annotations

import numpy as np

from lung_fm_robustness.phantom.anatomy import (
    AnatomySpec,
    add_chest_wall,
    correlated_texture,
    lung_fraction,
    render_lung,
)
from lung_fm_robustness.phantom.geometry import VolumeGeometry, index_range
from lung_fm_robustness.phantom.nodules import NoduleSpec

MASK_THRESHOLD = 0.5
# Grid step of the truth measurement, as a fraction of the diameter, within these bounds.
MEASURE_STEP_PER_DIAMETER = 1 / 30
MEASURE_STEP_MM = (0.1, 0.4)


def nodule_occupancy_and_hu(
    nodule: NoduleSpec, anatomy: AnatomySpec, x, y, z
) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy (clipped to the lung) and the nodule's HU at broadcastable points."""
    occupancy, hu = nodule.occupancy_and_hu(x, y, z)
    return occupancy * lung_fraction(anatomy, x, y, z).astype(np.float32), hu


def nodule_box(
    nodule: NoduleSpec, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[slice, slice, slice]:
    """(z, y, x) index slices of the grid points within the nodule's reach."""
    reach = nodule.extent_mm()
    return tuple(
        index_range(c, centre - reach, centre + reach)
        for c, centre in zip((z, y, x), nodule.centre_lps_mm[::-1])
    )


def _open_grid(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, ...]:
    return x[None, None, :], y[None, :, None], z[:, None, None]


def render_true_volume(
    anatomy: AnatomySpec,
    nodule: NoduleSpec,
    geometry: VolumeGeometry,
    texture_rng: np.random.Generator,
) -> np.ndarray:
    """Noise-free HU on the acquisition grid (float32; fine z, padded y, padded x).

    The nodule is blended into the lung content before the chest wall cuts it at the
    pleura, so a juxtapleural nodule meets the wall directly.
    """
    x, y, z = geometry.axis_mm(0, True), geometry.axis_mm(1, True), geometry.fine_z_mm()
    texture = correlated_texture(texture_rng, x, y, z)
    lung = render_lung(anatomy, texture, x, y, z)
    box = nodule_box(nodule, x, y, z)
    occupancy, hu = nodule.occupancy_and_hu(*_open_grid(x[box[2]], y[box[1]], z[box[0]]))
    region = lung[box]
    region += occupancy * (hu - region)
    return add_chest_wall(anatomy, lung, texture, x, y, z)


def nodule_mask_array(
    nodule: NoduleSpec, anatomy: AnatomySpec, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """uint8 (z, y, x) mask: 1 where the occupancy at the voxel centre is >= 0.5."""
    mask = np.zeros((len(z), len(y), len(x)), np.uint8)
    box = nodule_box(nodule, x, y, z)
    occupancy, _ = nodule_occupancy_and_hu(
        nodule, anatomy, *_open_grid(x[box[2]], y[box[1]], z[box[0]])
    )
    mask[box] = occupancy >= MASK_THRESHOLD
    return mask


def measure_nodule(nodule: NoduleSpec, anatomy: AnatomySpec) -> tuple[float, float]:
    """Volume (mm^3) of the thresholded nodule and its mean true HU, on a fine grid."""
    step = float(np.clip(nodule.diameter_mm * MEASURE_STEP_PER_DIAMETER, *MEASURE_STEP_MM))
    reach = nodule.extent_mm()
    x, y, z = (c + np.arange(-reach, reach + step, step) for c in nodule.centre_lps_mm)
    occupancy, hu = nodule_occupancy_and_hu(nodule, anatomy, *_open_grid(x, y, z))
    inside = occupancy >= MASK_THRESHOLD
    return float(inside.sum() * step**3), float(hu[inside].mean())
