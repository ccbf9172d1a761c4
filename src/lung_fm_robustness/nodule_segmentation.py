"""Nodule masks from a seed point, for PyRadiomics when the scans come without masks.

``seed_segmentation`` (per scan): smooth lightly (Gaussian, ``smoothing_mm``), keep voxels
at or above ``lower_hu`` (and at most ``upper_hu``) inside a sphere of radius
``sphere_radius_factor x diameter_mm`` (``default_diameter_mm`` when the diameter is not
known) around the seed, grow the face-connected region that holds the seed (or the nearest
such voxel within ``seed_search_mm``), fill its holes, then open it with a ball of
``opening_mm`` to cut thin attached vessels and keep the part that holds the seed.

``reference_propagated``: the same segmentation on the reference reconstruction only, carried
onto every other reconstruction's grid by nearest-neighbour resampling through physical
space, so every condition is analysed on the same physical region and mask differences do
not mix with the kernel and thickness effects under study.

Limits: a threshold suits solid (and calcified) nodules; ground-glass and part-solid
nodules need a lower ``lower_hu`` (about -750), which in noisy sharp-kernel scans leaks into
the parenchyma. A juxtapleural nodule touching the chest wall grows into it up to the
sphere (a known diameter keeps that small); vessels thicker than the opening ball stay
attached; nodules under about 5 mm lose up to a third of their voxels to the opening
(``opening_mm: 0`` keeps them whole). Check the masks (they are
.nii.gz files beside the scans' paths) or provide your own (``ingestion.masks.mode:
provided``) when it matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from lung_fm_robustness.voxel_grid import VoxelGrid

PARAMS = "ingestion.masks.segmentation"
SMOOTHING_REACH = 4.0  # Gaussian kernel half-width, in sigmas
_FACES = ndimage.generate_binary_structure(3, 1)


class SegmentationError(ValueError):
    """A seed around which nothing can be segmented; the message says what to change."""


@dataclass(frozen=True)
class SegmentationSettings:
    """The seeded segmentation's parameters (``ingestion.masks.segmentation``)."""

    lower_hu: float = -500.0
    upper_hu: float | None = None
    smoothing_mm: float = 0.5
    default_diameter_mm: float = 15.0
    sphere_radius_factor: float = 0.6
    seed_search_mm: float = 3.0
    opening_mm: float = 1.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SegmentationSettings:
        """Settings from parameters; unknown keys and non-numbers are errors naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in {PARAMS}; allowed: {sorted(known)}.")
        for key, value in params.items():
            optional = key == "upper_hu" and value is None
            if not optional and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{PARAMS}.{key} must be a number, got {value!r}.")
            positive = key in ("default_diameter_mm", "sphere_radius_factor")
            if (
                not optional
                and key not in ("lower_hu", "upper_hu")
                and (value < 0 or (positive and value == 0))
            ):
                raise ValueError(f"{PARAMS}.{key} must be {'> 0' if positive else '>= 0'}, got {value!r}.")
        return cls(**{k: (None if v is None else float(v)) for k, v in params.items()})

    def sphere_radius_mm(self, diameter_mm: float | None) -> float:
        """Radius of the sphere the nodule is grown in."""
        known = diameter_mm is not None and np.isfinite(diameter_mm) and diameter_mm > 0
        return self.sphere_radius_factor * (float(diameter_mm) if known else self.default_diameter_mm)


def segmentation_box(
    grid: VoxelGrid, seed: Sequence[float], radius_mm: float, settings: SegmentationSettings
) -> tuple[list[int], list[int]]:
    """Index box (start, size) holding the sphere of ``radius_mm`` around ``seed`` and the
    smoothing's reach beyond it (so voxels in the sphere are smoothed as in the whole scan),
    clipped to the volume."""
    margin_mm = SMOOTHING_REACH * settings.smoothing_mm + max(grid.spacing)
    centre = grid.continuous_index(seed)
    half = (radius_mm + margin_mm) / np.array(grid.spacing)
    lower = np.clip(np.floor(centre - half), 0, np.array(grid.size) - 1).astype(int)
    upper = np.clip(np.ceil(centre + half), 0, np.array(grid.size) - 1).astype(int)
    return [int(v) for v in lower], [int(v) for v in upper - lower + 1]


def seed_reaches_nodule(
    region: sitk.Image, seed: Sequence[float], radius_mm: float, settings: SegmentationSettings
) -> bool:
    """Whether segmentation can start: a voxel within ``seed_search_mm`` of the seed passes the
    threshold. ``region`` needs to cover only that search (see :func:`segmentation_box`)."""
    candidate, distance = _candidates(region, seed, radius_mm, settings)
    return _start_voxel(candidate, distance, settings) is not None


def segment_nodule(
    region: sitk.Image, seed: Sequence[float], radius_mm: float, settings: SegmentationSettings
) -> sitk.Image:
    """uint8 nodule mask (label 1) on the grid of ``region``, an image around ``seed``."""
    candidate, distance = _candidates(region, seed, radius_mm, settings)
    start = _start_voxel(candidate, distance, settings)
    if start is None:
        raise SegmentationError(
            f"No voxel at or above {settings.lower_hu:g} HU within {settings.seed_search_mm:g} mm of "
            f"the seed {tuple(round(float(c), 2) for c in seed)}: the seed is not on a solid nodule. "
            f"Check the coordinates, lower {PARAMS}.lower_hu (about -750 for ground glass), "
            "or provide masks (ingestion.masks.mode: provided)."
        )
    labels, _ = ndimage.label(candidate, structure=_FACES)
    nodule = ndimage.binary_fill_holes(labels == labels[start])
    opened = _open(nodule, settings.opening_mm, np.array(region.GetSpacing()[::-1]))
    labels, n = ndimage.label(opened, structure=_FACES)
    if labels[start]:
        nodule = labels == labels[start]
    elif n:
        nodule = labels == 1 + int(np.argmax(ndimage.sum_labels(opened, labels, range(1, n + 1))))
    mask = sitk.GetImageFromArray(nodule.astype(np.uint8))
    mask.CopyInformation(region)
    return mask


def _candidates(
    region: sitk.Image, seed: Sequence[float], radius_mm: float, settings: SegmentationSettings
) -> tuple[np.ndarray, np.ndarray]:
    """(z, y, x) voxels in the threshold window and the sphere, after smoothing; and every
    voxel's distance to the seed (mm)."""
    grid = VoxelGrid.of(region)
    values = sitk.GetArrayFromImage(region).astype(np.float32)
    if settings.smoothing_mm > 0:
        sigma = settings.smoothing_mm / np.array(grid.spacing[::-1])
        values = ndimage.gaussian_filter(values, sigma, mode="nearest", truncate=SMOOTHING_REACH)
    index = np.indices(grid.size[::-1]).reshape(3, -1)[::-1].T
    points = np.array(grid.origin) + (index * grid.spacing) @ np.array(grid.direction).reshape(3, 3).T
    distance = np.linalg.norm(points - np.asarray(seed, dtype=float), axis=1).reshape(grid.size[::-1])
    candidate = (values >= settings.lower_hu) & (distance <= radius_mm)
    if settings.upper_hu is not None:
        candidate &= values <= settings.upper_hu
    return candidate, distance


def _start_voxel(
    candidate: np.ndarray, distance: np.ndarray, settings: SegmentationSettings
) -> tuple[int, ...] | None:
    """The candidate voxel nearest the seed within ``seed_search_mm`` (or the nearest voxel)."""
    reachable = candidate & (distance <= max(settings.seed_search_mm, distance.min()))
    if not reachable.any():
        return None
    return np.unravel_index(np.argmin(np.where(reachable, distance, np.inf)), distance.shape)


def _open(mask: np.ndarray, radius_mm: float, spacing_zyx: np.ndarray) -> np.ndarray:
    """Binary opening with a ball of ``radius_mm`` (an ellipsoid in voxels)."""
    radii = radius_mm / spacing_zyx
    if radius_mm <= 0 or np.all(radii < 1):
        return mask
    reach = np.floor(radii).astype(int)
    offsets = np.indices(2 * reach + 1).reshape(3, -1).T - reach
    inside = ((offsets / np.maximum(radii, 1e-9)) ** 2).sum(axis=1) <= 1
    ball = inside.reshape(2 * reach + 1)
    return ndimage.binary_opening(mask, structure=ball)


def mask_on_grid(mask: sitk.Image, grid: VoxelGrid) -> sitk.Image:
    """``mask`` carried onto ``grid`` through physical space (nearest neighbour; 0 outside).

    On the mask's own lattice (a region of the same scan) this pastes it exactly."""
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in grid.size])
    resampler.SetOutputSpacing(grid.spacing)
    resampler.SetOutputOrigin(grid.origin)
    resampler.SetOutputDirection(grid.direction)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    resampler.SetOutputPixelType(sitk.sitkUInt8)
    return resampler.Execute(mask)
