"""The patient around the nodule: lung parenchyma with texture, vessels and the chest wall.

The reconstructed volume is a sub-region of a chest: lung parenchyma (-900..-850 HU) with a
fine correlated texture, a few branching vessel trees (unenhanced, 35-50 HU, radii tapering
by Murray's law) running from the hilar side towards the periphery, and, on one side of
the field of view, the pleura and chest wall (intercostal muscle, a fat layer, outer
muscle). The pleura is part of a circle around the chest axis, so its curvature and slight
z tilt are those of a real chest, and nodules placed against it are juxtapleural. Tissue
values follow shared/reference/ct-physics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from lung_fm_robustness.phantom.geometry import index_range

LUNG_HU = (-900.0, -850.0)
VESSEL_HU = (35.0, 50.0)
MUSCLE_HU = (40.0, 60.0)
FAT_HU = (-110.0, -90.0)
LUNG_TEXTURE_SD_HU = (15.0, 30.0)
SOFT_TISSUE_TEXTURE_SD_HU = 5.0
TEXTURE_CORRELATION_MM = 1.0  # SD of the Gaussian that correlates the texture
WALL_IN_FOV_MM = (12.0, 22.0)  # how deep the chest wall reaches into its side of the FOV
TISSUE_EDGE_MM = 0.3  # sigmoid scale of the pleura and of the fat/muscle interfaces
VESSEL_EDGE_MM = 0.15
# Depth-to-tissue lookup: from where the lung fraction is 1 - 5e-5, in steps this fine.
WALL_TABLE_START_MM = -10 * TISSUE_EDGE_MM
WALL_TABLE_STEP_MM = 0.01
MURRAY_RADIUS_RATIO = 2.0 ** (-1.0 / 3.0)  # daughter/parent radius at a symmetric bifurcation


@dataclass(frozen=True)
class VesselSegment:
    """A tube from ``start`` to ``end`` (LPS mm) whose radius tapers linearly along it."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius_start_mm: float
    radius_end_mm: float


@dataclass(frozen=True)
class AnatomySpec:
    """One patient's chest region and where the reconstructed field of view sits in it."""

    fov_centre_xy_mm: tuple[float, float]
    z_start_mm: float
    chest_axis_xy_mm: tuple[float, float]
    pleura_radius_mm: float  # at z_reference_mm
    pleura_radius_slope: float  # change of the pleura radius per mm of z
    z_reference_mm: float
    intercostal_mm: float  # pleura and intercostal muscle, inside the fat layer
    fat_mm: float
    lung_hu: float
    muscle_hu: float
    fat_hu: float
    vessel_hu: float
    lung_texture_sd_hu: float
    vessels: tuple[VesselSegment, ...]


def pleural_depth(anatomy: AnatomySpec, x, y, z) -> np.ndarray:
    """Signed distance (mm) beyond the pleura: negative in the lung, positive in the wall.

    ``x, y, z`` broadcast against each other (e.g. open grids of voxel centres).
    """
    cx, cy = anatomy.chest_axis_xy_mm
    radius = anatomy.pleura_radius_mm + anatomy.pleura_radius_slope * (
        np.asarray(z, np.float32) - anatomy.z_reference_mm
    )
    rho = np.sqrt((np.asarray(x, np.float32) - cx) ** 2 + (np.asarray(y, np.float32) - cy) ** 2)
    return rho - radius


def lung_fraction(anatomy: AnatomySpec, x, y, z) -> np.ndarray:
    """Soft indicator of the lung side of the pleura."""
    return expit(-pleural_depth(anatomy, x, y, z) / TISSUE_EDGE_MM)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _draw_vessel_tree(
    rng: np.random.Generator,
    start: np.ndarray,
    direction: np.ndarray,
    radius: float,
    length: float,
    generations: int,
) -> list[VesselSegment]:
    end = start + length * direction
    radius_end = 0.85 * radius
    segments = [VesselSegment(tuple(start), tuple(end), radius, radius_end)]
    if generations > 1:
        across = _unit(np.cross(direction, rng.normal(size=3)))
        for sign in (1.0, -1.0):
            angle = np.deg2rad(rng.uniform(20.0, 40.0))
            child = _unit(np.cos(angle) * direction + sign * np.sin(angle) * across)
            segments += _draw_vessel_tree(
                rng,
                end,
                child,
                MURRAY_RADIUS_RATIO * radius_end,
                length * rng.uniform(0.6, 0.8),
                generations - 1,
            )
    return segments


def draw_anatomy(rng: np.random.Generator, fov_mm: float, z_extent_mm: float) -> AnatomySpec:
    """A chest region whose wall reaches ``WALL_IN_FOV_MM`` into one side of the field of view.

    The wall side is one of left/right lateral, anterior, posterior (LPS +x, -x, -y, +y),
    tilted by up to ~15 degrees; the chest axis and table position give scanner-like origins.
    """
    theta = rng.integers(4) * np.pi / 2 + rng.uniform(-0.25, 0.25)
    outward = np.array([np.cos(theta), np.sin(theta)])
    across = np.array([-outward[1], outward[0]])
    axis = np.array([rng.uniform(-15.0, 15.0), rng.uniform(-30.0, 10.0)])
    radius = rng.uniform(100.0, 140.0)
    wall_in_fov = rng.uniform(*WALL_IN_FOV_MM)
    fov_centre = axis + (radius + wall_in_fov - fov_mm / 2) * outward
    z_start = rng.uniform(-260.0, -140.0)

    vessels: list[VesselSegment] = []
    for _ in range(rng.integers(3, 6)):
        entry = fov_centre - (fov_mm / 2 + 5.0) * outward + rng.uniform(-0.4, 0.4) * fov_mm * across
        z = z_start + rng.uniform(0.15, 0.85) * z_extent_mm
        start = np.array([entry[0], entry[1], z])
        direction = _unit(np.array([*outward, 0.0]) + rng.normal(0.0, 0.45, size=3))
        vessels += _draw_vessel_tree(
            rng, start, direction, rng.uniform(1.4, 2.4), rng.uniform(25.0, 40.0), 3
        )

    return AnatomySpec(
        fov_centre_xy_mm=(float(fov_centre[0]), float(fov_centre[1])),
        z_start_mm=float(z_start),
        chest_axis_xy_mm=(float(axis[0]), float(axis[1])),
        pleura_radius_mm=float(radius),
        pleura_radius_slope=float(rng.uniform(-0.12, 0.12)),
        z_reference_mm=float(z_start + z_extent_mm / 2),
        intercostal_mm=float(rng.uniform(4.0, 8.0)),
        fat_mm=float(rng.uniform(3.0, 8.0)),
        lung_hu=float(rng.uniform(*LUNG_HU)),
        muscle_hu=float(rng.uniform(*MUSCLE_HU)),
        fat_hu=float(rng.uniform(*FAT_HU)),
        vessel_hu=float(rng.uniform(*VESSEL_HU)),
        lung_texture_sd_hu=float(rng.uniform(*LUNG_TEXTURE_SD_HU)),
        vessels=tuple(vessels),
    )


def _texture_axis_matrix(fine: np.ndarray, margin: float) -> np.ndarray:
    """Gaussian interpolation from a coarse node grid onto ``fine``, rows of unit L2 norm.

    Unit-norm rows make white noise on the nodes a field of exactly unit variance.
    """
    step = TEXTURE_CORRELATION_MM
    nodes = np.arange(fine[0] - margin, fine[-1] + margin + step, step)
    weights = np.exp(-0.5 * ((fine[:, None] - nodes[None, :]) / TEXTURE_CORRELATION_MM) ** 2)
    return (weights / np.linalg.norm(weights, axis=1, keepdims=True)).astype(np.float32)


def correlated_texture(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Unit-variance Gaussian random field with ~1 mm correlation on the grid ``z, y, x``.

    Separable Gaussian smoothing of white noise on a coarse node grid, done as three small
    matrix products instead of a 3-D FFT of the full fine volume.
    """
    margin = 4.0 * TEXTURE_CORRELATION_MM
    ax, ay, az = (_texture_axis_matrix(c, margin) for c in (x, y, z))
    nz, ny, nx = az.shape[1], ay.shape[1], ax.shape[1]
    # Axis order (y, z, x) then (z, y, x): each step is one large matrix product.
    nodes = rng.standard_normal((ny * nz, nx), dtype=np.float32)
    field = ay @ (nodes @ ax.T).reshape(ny, nz * len(x))
    field = field.reshape(len(y), nz, len(x)).transpose(1, 0, 2).reshape(nz, -1)
    return (az @ field).reshape(len(z), len(y), len(x))


def _blend_vessel(
    volume: np.ndarray,
    segment: VesselSegment,
    hu: float,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
) -> None:
    """Blend one tapered tube (with rounded ends) into ``volume`` inside its bounding box."""
    a, b = np.array(segment.start), np.array(segment.end)
    reach = max(segment.radius_start_mm, segment.radius_end_mm) + 4 * VESSEL_EDGE_MM
    low, high = np.minimum(a, b) - reach, np.maximum(a, b) + reach
    box = tuple(index_range(c, lo, hi) for c, lo, hi in zip((z, y, x), low[::-1], high[::-1]))
    if any(s.start >= s.stop for s in box):
        return
    axis = (b - a).astype(np.float32)
    length2 = float(axis @ axis)
    dz, dy, dx = (
        (c[s] - a[i]).astype(np.float32).reshape(shape)
        for c, s, i, shape in zip((z, y, x), box, (2, 1, 0), ((-1, 1, 1), (1, -1, 1), (1, 1, -1)))
    )
    along = dz * axis[2] + dy * axis[1] + dx * axis[0]
    t = np.clip(along / length2, 0.0, 1.0)
    dist2 = (dz**2 + dy**2 + dx**2) - 2.0 * t * along + t**2 * length2
    radius = segment.radius_start_mm + t * (segment.radius_end_mm - segment.radius_start_mm)
    occupancy = expit((radius - np.sqrt(np.maximum(dist2, 0.0))) / VESSEL_EDGE_MM)
    region = volume[box]
    region += occupancy * (hu - region)


def _wall_profile(anatomy: AnatomySpec, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lung fraction and soft-tissue HU (muscle, fat, muscle) at pleural ``depth``.

    Both depend on depth alone, so they are tabulated finely and looked up by index:
    much cheaper than sigmoids or ``np.interp`` over the whole fine volume.
    """
    table = np.arange(
        WALL_TABLE_START_MM, anatomy.intercostal_mm + anatomy.fat_mm + 3.0, WALL_TABLE_STEP_MM
    )
    fat = expit((table - anatomy.intercostal_mm) / TISSUE_EDGE_MM) - expit(
        (table - anatomy.intercostal_mm - anatomy.fat_mm) / TISSUE_EDGE_MM
    )
    soft = anatomy.muscle_hu + (anatomy.fat_hu - anatomy.muscle_hu) * fat
    index = (depth - np.float32(table[0])) * np.float32(1 / WALL_TABLE_STEP_MM) + np.float32(0.5)
    index = np.clip(index, 0, len(table) - 1, out=index).astype(np.intp)
    return (
        expit(-table / TISSUE_EDGE_MM).astype(np.float32)[index],
        soft.astype(np.float32)[index],
    )


def render_lung(
    anatomy: AnatomySpec, texture: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Parenchyma with texture and vessels (float32, z x y x x), as if lung filled the grid."""
    lung = anatomy.lung_hu + anatomy.lung_texture_sd_hu * texture
    for segment in anatomy.vessels:
        _blend_vessel(lung, segment, anatomy.vessel_hu, x, y, z)
    return lung


def add_chest_wall(
    anatomy: AnatomySpec,
    lung: np.ndarray,
    texture: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
) -> np.ndarray:
    """``lung`` with chest-wall tissue beyond the pleura (in place; returned).

    Whatever lies in ``lung`` (vessels, a juxtapleural nodule) is cut off by the pleura,
    meeting the wall without an air gap. Only (y, x) columns that come within
    ``-WALL_TABLE_START_MM`` of the pleura at some z are touched.
    """
    xx, yy = np.meshgrid(x, y)
    # The pleura radius is linear in z, so a column's largest depth is at one end of it.
    deepest = np.maximum(
        pleural_depth(anatomy, xx, yy, z[0]), pleural_depth(anatomy, xx, yy, z[-1])
    )
    columns = deepest > WALL_TABLE_START_MM
    depth = pleural_depth(anatomy, xx[columns][None, :], yy[columns][None, :], z[:, None])
    in_lung, soft = _wall_profile(anatomy, depth)
    soft += SOFT_TISSUE_TEXTURE_SD_HU * texture[:, columns]
    lung[:, columns] = soft + in_lung * (lung[:, columns] - soft)
    return lung
