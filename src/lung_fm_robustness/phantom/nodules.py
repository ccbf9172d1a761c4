"""Lung nodules as implicit shapes: drawn per patient, evaluable at any physical point.

A nodule is a body whose radius is modulated by low-order spherical harmonics (strongly
for lobulated margins, a mild degree-2 term for smooth ones), plus tapered spikes for
spiculated margins, with a soft sigmoid edge. Because the shape is a function of position
rather than a voxel array, the same nodule is rendered on the fine acquisition grid and
its ground-truth mask is evaluated at the voxel centres of any reconstruction.

Harmonics are stored as zonal harmonics ``P_l(u . axis)`` about random axes: sums of
these span the same degree-``l`` spherical-harmonic spaces and are cheap to evaluate.
Sizes, types and densities follow shared/reference/ct-physics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from scipy.special import expit, ndtr, ndtri

from lung_fm_robustness.phantom import validation as v
from lung_fm_robustness.phantom.anatomy import AnatomySpec, pleural_depth
from lung_fm_robustness.phantom.geometry import VolumeGeometry

NODULE_TYPES = ("solid", "part_solid", "ground_glass", "calcified")
MARGINS = ("smooth", "lobulated", "spiculated")

SOLID_HU = (-10.0, 60.0)
GROUND_GLASS_HU = (-700.0, -450.0)
CALCIFICATION_HU = (300.0, 800.0)
SOLID_EDGE_MM = (0.1, 0.25)  # sigmoid scale of the edge before any blurring
GROUND_GLASS_EDGE_MM = (0.3, 0.6)

LOBULATION_DEGREES = (2, 3, 4)
LOBULATION_AMPLITUDE = (0.04, 0.10)  # relative radius change per harmonic term
MAX_LOBULATION = 0.30  # cap on the summed |amplitudes|
SMOOTH_ELLIPTICITY = 0.06
SPIKES = (6, 14)
SPIKE_LENGTH_R = (0.5, 1.5)  # spike length in body radii ...
SPIKE_LENGTH_MM = (1.5, 10.0)  # ... clipped to this, so large masses stay inside the volume
SPIKE_BASE_RADIUS_MM = (0.4, 1.2)  # 0.2 R, clipped to this

FMCIB_CUBE_MM = 50.0  # the foundation model's input cube around the nodule centre
CUBE_OVERHANG_MM = 5.0  # the cube may leave the volume by this much per side
NODULE_MARGIN_MM = 2.0  # free space between the nodule and the volume's edges
PLEURA_CLEARANCE_MM = 1.5  # gap to the pleura of a nodule that is not juxtapleural
# Centre-to-pleura distance, in body radii along the way to the wall: broad-based contact.
JUXTAPLEURAL_CENTRE_DEPTH_R = (0.5, 0.85)
PLACEMENT_ATTEMPTS = 500


@dataclass(frozen=True)
class NoduleDistribution:
    """How nodules are drawn: truncated log-normal diameter, type, margin, pleural contact."""

    diameter_median_mm: float
    diameter_sigma_log: float
    diameter_min_mm: float
    diameter_max_mm: float
    type_probabilities: tuple[tuple[str, float], ...]
    margin_probabilities: tuple[tuple[str, float], ...]
    juxtapleural_probability: float

    @classmethod
    def from_params(cls, params: Any, name: str = "nodule") -> NoduleDistribution:
        params = v.mapping(params, name)
        v.known_keys(params, tuple(f.name for f in fields(cls)), name)
        low = v.positive(v.required(params, "diameter_min_mm", name), f"{name}.diameter_min_mm")
        high = v.real(
            v.required(params, "diameter_max_mm", name),
            f"{name}.diameter_max_mm",
            low,
            60.0,
            low_inclusive=False,
        )
        return cls(
            diameter_median_mm=v.real(
                v.required(params, "diameter_median_mm", name),
                f"{name}.diameter_median_mm",
                low,
                high,
            ),
            diameter_sigma_log=v.real(
                v.required(params, "diameter_sigma_log", name),
                f"{name}.diameter_sigma_log",
                0.0,
                3.0,
                low_inclusive=False,
            ),
            diameter_min_mm=low,
            diameter_max_mm=high,
            type_probabilities=tuple(
                v.probabilities(
                    v.required(params, "type_probabilities", name),
                    f"{name}.type_probabilities",
                    NODULE_TYPES,
                ).items()
            ),
            margin_probabilities=tuple(
                v.probabilities(
                    v.required(params, "margin_probabilities", name),
                    f"{name}.margin_probabilities",
                    MARGINS,
                ).items()
            ),
            juxtapleural_probability=v.real(
                v.required(params, "juxtapleural_probability", name),
                f"{name}.juxtapleural_probability",
                0.0,
                1.0,
            ),
        )

    def max_extent_mm(self) -> float:
        """Largest centre-to-surface distance any drawn nodule can have."""
        return _extent_mm(
            self.diameter_max_mm / 2, MAX_LOBULATION, SPIKE_LENGTH_MM[1], GROUND_GLASS_EDGE_MM[1]
        )


def _legendre(degree: int, c: np.ndarray) -> np.ndarray:
    """Legendre polynomial P_degree(c) by Bonnet's recurrence (keeps float32)."""
    previous, current = np.ones_like(c), c
    for n in range(1, degree):
        previous, current = current, ((2 * n + 1) * c * current - n * previous) / (n + 1)
    return current


def _extent_mm(radius: float, lobulation: float, spike_mm: float, edge_mm: float) -> float:
    return max(radius * (1.0 + lobulation), radius + spike_mm) + 4.0 * edge_mm


@dataclass(frozen=True)
class NoduleSpec:
    """One nodule; ``diameter_mm`` is that of the body before lobulation and spikes.

    Part-solid nodules are a ground-glass body with a solid core, centrally calcified ones a
    solid body with a calcified core; the core is the body shape scaled by
    ``core_fraction`` (0: no core).
    """

    nodule_type: str
    margin: str
    diameter_mm: float
    centre_lps_mm: tuple[float, float, float]
    juxtapleural: bool
    hu: float
    core_hu: float
    core_fraction: float
    edge_mm: float
    harmonic_degrees: tuple[int, ...]
    harmonic_axes: tuple[tuple[float, float, float], ...]
    harmonic_amplitudes: tuple[float, ...]
    spike_directions: tuple[tuple[float, float, float], ...]
    spike_lengths_mm: tuple[float, ...]
    spike_base_radii_mm: tuple[float, ...]

    @property
    def radius_mm(self) -> float:
        return self.diameter_mm / 2

    def extent_mm(self) -> float:
        """Distance from the centre beyond which the occupancy is negligible."""
        return _extent_mm(
            self.radius_mm,
            float(np.abs(self.harmonic_amplitudes).sum()),
            max(self.spike_lengths_mm, default=0.0),
            self.edge_mm,
        )

    def body_radius_mm(self, ux, uy, uz) -> np.ndarray:
        """Radius (mm) of the lobulated body along unit directions ``(ux, uy, uz)``."""
        body = np.ones_like(ux)
        for degree, axis, amplitude in zip(
            self.harmonic_degrees, self.harmonic_axes, self.harmonic_amplitudes
        ):
            cosine = ux * axis[0] + uy * axis[1] + uz * axis[2]
            body += np.float32(amplitude) * _legendre(degree, cosine)
        return body * np.float32(self.radius_mm)

    def _inside(self, x, y, z) -> tuple[np.ndarray, np.ndarray]:
        """Signed depth (mm, > 0 inside) below the whole surface and below the core's."""
        cx, cy, cz = self.centre_lps_mm
        dx, dy, dz = (
            np.asarray(c, np.float32) - np.float32(o) for c, o in ((x, cx), (y, cy), (z, cz))
        )
        r = np.sqrt(dx**2 + dy**2 + dz**2)
        inv_r = 1.0 / np.maximum(r, np.float32(1e-6))
        body = self.body_radius_mm(dx * inv_r, dy * inv_r, dz * inv_r)
        outer = body - r
        for direction, length, base in zip(
            self.spike_directions, self.spike_lengths_mm, self.spike_base_radii_mm
        ):
            t = dx * direction[0] + dy * direction[1] + dz * direction[2]
            off_axis = np.sqrt(np.maximum(r**2 - t**2, 0.0))
            radius = base * np.clip((self.radius_mm + length - t) / length, 0.0, 1.0)
            spike = np.where(t > 0.5 * self.radius_mm, radius - off_axis, -np.inf)
            outer = np.maximum(outer, spike)
        return outer, self.core_fraction * body - r

    def occupancy_and_hu(self, x, y, z) -> tuple[np.ndarray, np.ndarray]:
        """Occupancy and the nodule's own HU (core blended into the body) at the points."""
        outer, core = self._inside(x, y, z)
        hu = np.full(outer.shape, self.hu, np.float32)
        if self.core_fraction > 0:
            hu += np.float32(self.core_hu - self.hu) * expit(core / self.edge_mm).astype(np.float32)
        return expit(outer / self.edge_mm).astype(np.float32), hu


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    names, probs = zip(*table)
    return str(names[rng.choice(len(names), p=np.asarray(probs) / sum(probs))])


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _draw_diameter(rng: np.random.Generator, dist: NoduleDistribution) -> float:
    """Log-normal diameter truncated to [min, max] (inverse CDF of one uniform draw)."""
    mu, sigma = np.log(dist.diameter_median_mm), dist.diameter_sigma_log
    lo, hi = (ndtr((np.log(d) - mu) / sigma) for d in (dist.diameter_min_mm, dist.diameter_max_mm))
    diameter = float(np.exp(mu + sigma * ndtri(rng.uniform(lo, hi))))
    return float(np.clip(diameter, dist.diameter_min_mm, dist.diameter_max_mm))


def _draw_density(rng: np.random.Generator, nodule_type: str) -> dict[str, float]:
    """HU of body and core, core size and edge softness of one nodule type."""
    solid, glass = rng.uniform(*SOLID_HU), rng.uniform(*GROUND_GLASS_HU)
    calcium = rng.uniform(*CALCIFICATION_HU)
    if nodule_type == "solid":
        density = {"hu": solid, "core_hu": solid, "core_fraction": 0.0}
    elif nodule_type == "ground_glass":
        density = {"hu": glass, "core_hu": glass, "core_fraction": 0.0}
    elif nodule_type == "part_solid":
        density = {"hu": glass, "core_hu": solid, "core_fraction": rng.uniform(0.3, 0.7)}
    elif rng.uniform() < 0.6:  # calcified, central
        density = {"hu": solid, "core_hu": calcium, "core_fraction": rng.uniform(0.3, 0.6)}
    else:  # calcified, diffuse
        density = {"hu": calcium, "core_hu": calcium, "core_fraction": 0.0}
    glassy = nodule_type in ("ground_glass", "part_solid")
    density["edge_mm"] = rng.uniform(*(GROUND_GLASS_EDGE_MM if glassy else SOLID_EDGE_MM))
    return {k: float(val) for k, val in density.items()}


def _draw_shape(rng: np.random.Generator, margin: str, radius: float) -> dict[str, tuple]:
    """Harmonic terms (all margins) and spikes (spiculated only)."""
    if margin == "lobulated":
        degrees = tuple(d for d in LOBULATION_DEGREES for _ in range(2))
        amplitudes = rng.uniform(*LOBULATION_AMPLITUDE, len(degrees)) * rng.choice(
            (-1, 1), len(degrees)
        )
        amplitudes *= min(1.0, MAX_LOBULATION / np.abs(amplitudes).sum())
    else:
        degrees = (2,)
        amplitudes = rng.uniform(-SMOOTH_ELLIPTICITY, SMOOTH_ELLIPTICITY, 1)
    n_spikes = int(rng.integers(SPIKES[0], SPIKES[1] + 1)) if margin == "spiculated" else 0
    lengths = np.clip(rng.uniform(*SPIKE_LENGTH_R, n_spikes) * radius, *SPIKE_LENGTH_MM)
    return {
        "harmonic_degrees": degrees,
        "harmonic_axes": tuple(map(tuple, _unit_vectors(rng, len(degrees)).tolist())),
        "harmonic_amplitudes": tuple(amplitudes.tolist()),
        "spike_directions": tuple(map(tuple, _unit_vectors(rng, n_spikes).tolist())),
        "spike_lengths_mm": tuple(lengths.tolist()),
        "spike_base_radii_mm": (float(np.clip(0.2 * radius, *SPIKE_BASE_RADIUS_MM)),) * n_spikes,
    }


def _centre_box_mm(extent_mm: float, geometry: VolumeGeometry) -> np.ndarray:
    """(3, 2) range of admissible centres: nodule inside with margin, FMCIB cube mostly inside."""
    inset = max(extent_mm + NODULE_MARGIN_MM, FMCIB_CUBE_MM / 2 - CUBE_OVERHANG_MM)
    return geometry.bounds_mm() + np.array([inset, -inset])


def _place(
    rng: np.random.Generator,
    spec: NoduleSpec,
    juxtapleural: bool,
    anatomy: AnatomySpec,
    geometry: VolumeGeometry,
) -> NoduleSpec:
    """Centre in the lung: touching the pleura (broad-based) or clear of it."""
    box = _centre_box_mm(spec.extent_mm(), geometry)
    axis = np.array(anatomy.chest_axis_xy_mm)
    for _ in range(PLACEMENT_ATTEMPTS):
        centre = rng.uniform(box[:, 0], box[:, 1])
        if juxtapleural:
            outward = (centre[:2] - axis) / np.linalg.norm(centre[:2] - axis)
            pleura = anatomy.pleura_radius_mm + anatomy.pleura_radius_slope * (
                centre[2] - anatomy.z_reference_mm
            )
            towards_wall = np.array([*outward, 0.0], np.float32)
            depth = float(spec.body_radius_mm(*towards_wall)) * rng.uniform(
                *JUXTAPLEURAL_CENTRE_DEPTH_R
            )
            centre[:2] = axis + (pleura - depth) * outward
            ok = bool(np.all((centre >= box[:, 0]) & (centre <= box[:, 1])))
        else:
            ok = pleural_depth(anatomy, *centre) <= -(spec.extent_mm() + PLEURA_CLEARANCE_MM)
        if ok:
            return replace(spec, centre_lps_mm=tuple(centre.tolist()), juxtapleural=juxtapleural)
    if juxtapleural:  # the pleura does not cross the admissible box: an intrapulmonary nodule
        return _place(rng, spec, False, anatomy, geometry)
    raise RuntimeError(
        f"no room for a {spec.diameter_mm:.1f} mm nodule in the lung part of the volume; "
        "enlarge ingestion.phantom.matrix_size / z_extent_mm or lower nodule.diameter_max_mm"
    )


def draw_nodule(
    rng: np.random.Generator,
    dist: NoduleDistribution,
    anatomy: AnatomySpec,
    geometry: VolumeGeometry,
) -> NoduleSpec:
    """One nodule of random type, margin, size, density and shape, placed in the lung."""
    nodule_type = _choice(rng, dist.type_probabilities)
    margin = _choice(rng, dist.margin_probabilities)
    diameter = _draw_diameter(rng, dist)
    spec = NoduleSpec(
        nodule_type=nodule_type,
        margin=margin,
        diameter_mm=diameter,
        centre_lps_mm=(0.0, 0.0, 0.0),
        juxtapleural=False,
        **_draw_density(rng, nodule_type),
        **_draw_shape(rng, margin, diameter / 2),
    )
    juxtapleural = bool(rng.uniform() < dist.juxtapleural_probability)
    return _place(rng, spec, juxtapleural, anatomy, geometry)
