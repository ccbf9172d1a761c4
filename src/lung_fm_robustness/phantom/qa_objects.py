"""The QA's test objects, built as acquisitions for the study's own reconstruction.

Like the phantoms of a scanner's acceptance test, each object isolates one property:

- a uniform lung-density volume with the study's quantum noise: noise SD and NPS;
- a slanted edge (5 degrees off the y axis, constant along z), noise-free: the in-plane MTF.
  It sits on a 0.1 mm grid, a small-FOV "targeted" reconstruction, because the study's
  0.7 mm pixels (Nyquist 0.71 lp/mm) cannot carry the medium and sharp kernels' MTF10;
  the edge is a step blurred by a 0.05 mm Gaussian, so that it does not alias on that grid,
  and ``edge_transfer`` is that blur's MTF, divided out like a wire's diameter;
- a thin plate inclined to the axial plane (a slice-thickness ramp), noise-free: the slice
  sensitivity profile, read along x in one slice and scaled by the plate's slope. The plate
  is one fine z step (0.25 mm) thick, and like a real foil it widens the profile it
  measures, by ~3 % at 1 mm.

Objects are centred on the isocentre and sampled along z exactly as the patients are.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from lung_fm_robustness.phantom.geometry import VolumeGeometry
from lung_fm_robustness.phantom.reconstruction import Acquisition, white_noise
from lung_fm_robustness.phantom.study import PhantomConfig

UNIFORM_HU = -870.0  # lung parenchyma
EDGE_PIXEL_MM = 0.1
EDGE_MATRIX = 300
EDGE_ANGLE_DEG = 5.0
EDGE_BLUR_SD_MM = 0.05
EDGE_HU = 1000.0  # contrast of the edge
# The plate rises by this many SSP FWHMs across the central PLATE_RUN_MM of the FOV, so
# its profile along x is ~12 mm wide: sampled finely, untouched by the in-plane kernel.
PLATE_RISE_FWHM = 5.0
PLATE_RUN_MM = 60.0
PLATE_HU = 10000.0  # a metal foil one fine z step thick
PLATE_SLICES_PER_FWHM = 8  # z range rendered around the plate


def _isocentre_geometry(
    config: PhantomConfig, pixel_spacing_mm: float, matrix_size: int, z_extent_mm: float
) -> VolumeGeometry:
    half = (matrix_size - 1) / 2 * pixel_spacing_mm
    return VolumeGeometry(
        pixel_spacing_mm=pixel_spacing_mm,
        matrix_size=matrix_size,
        origin_xy_mm=(-half, -half),
        z_start_mm=-z_extent_mm / 2,
        z_extent_mm=z_extent_mm,
        fine_z_step_mm=config.fine_z_step_mm,
        slice_profiles_mm=tuple(config.slice_profile_fwhm_mm.items()),
    )


def _shape(geometry: VolumeGeometry) -> tuple[int, int, int]:
    return (
        len(geometry.fine_z_mm()),
        len(geometry.axis_mm(1, True)),
        len(geometry.axis_mm(0, True)),
    )


def uniform_acquisition(config: PhantomConfig, seed: int, hu: float = UNIFORM_HU) -> Acquisition:
    """A flat object on the study's grid with white quantum noise drawn from ``seed``."""
    geometry = _isocentre_geometry(
        config, config.pixel_spacing_mm, config.matrix_size, config.z_extent_mm
    )
    shape = _shape(geometry)
    noise = white_noise(np.random.SeedSequence(seed), shape)
    return Acquisition(geometry, np.full(shape, hu, np.float32), noise)


def slanted_edge(config: PhantomConfig) -> Acquisition:
    """Noise-free edge, dark left of a line through the isocentre tilted by EDGE_ANGLE_DEG."""
    geometry = _isocentre_geometry(
        config, EDGE_PIXEL_MM, EDGE_MATRIX, max(config.slice_thicknesses_mm)
    )
    x, y = geometry.axis_mm(0, True), geometry.axis_mm(1, True)
    angle = math.radians(EDGE_ANGLE_DEG)
    distance = x[None, :] * math.cos(angle) - y[:, None] * math.sin(angle)
    plane = (EDGE_HU * ndtr(distance / EDGE_BLUR_SD_MM)).astype(np.float32)
    shape = _shape(geometry)
    true_hu = np.broadcast_to(plane, shape).copy()
    return Acquisition(geometry, true_hu, np.zeros(shape, np.float32))


def edge_transfer(f: np.ndarray) -> np.ndarray:
    """MTF of the edge's own Gaussian blur, to divide out of the measured MTF."""
    return np.exp(-2.0 * (math.pi * EDGE_BLUR_SD_MM * np.asarray(f)) ** 2)


def inclined_plate(config: PhantomConfig, thickness_mm: float) -> tuple[Acquisition, float, int]:
    """A plate crossing the centre of slice ``k`` at x = 0, rising with slope ``tan``.

    Returns ``(acquisition, tan, k)``. The plate is spread over the two nearest fine z
    samples (linear weights), so its content is the same at every sub-sample position.
    """
    target_fwhm = config.slice_profile_fwhm_mm[thickness_mm]
    n_slices = math.ceil(PLATE_SLICES_PER_FWHM * target_fwhm / thickness_mm)
    geometry = _isocentre_geometry(
        config, config.pixel_spacing_mm, config.matrix_size, n_slices * thickness_mm
    )
    k = n_slices // 2
    tan = PLATE_RISE_FWHM * target_fwhm / PLATE_RUN_MM
    fine_z = geometry.fine_z_mm()
    x = geometry.axis_mm(0, True)
    position = geometry.slice_centres_mm(thickness_mm)[k] + tan * x - fine_z[0]
    position /= geometry.fine_z_step_mm
    lower = np.floor(position).astype(int)
    inside = (lower >= 0) & (lower < len(fine_z) - 1)
    columns, lower = np.flatnonzero(inside), lower[inside]
    upper_weight = (position[inside] - lower).astype(np.float32)
    shape = _shape(geometry)
    true_hu = np.zeros(shape, np.float32)
    true_hu[lower, :, columns] = PLATE_HU * (1.0 - upper_weight)[:, None]
    true_hu[lower + 1, :, columns] = PLATE_HU * upper_weight[:, None]
    return Acquisition(geometry, true_hu, np.zeros(shape, np.float32)), tan, k
