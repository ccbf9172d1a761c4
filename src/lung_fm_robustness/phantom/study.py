"""The embedded phantom study: one low-dose acquisition per patient, reconstructed per condition.

Each patient is drawn from ``(seed, index)`` alone, so patients do not depend on how many
there are or in which order they are generated. ``render_acquisition`` is the heavy step
(fine true volume and the shared quantum noise); every ``reconstruct`` of it reuses the
same noise realisation, filtered by the kernel and the slice profile. Masks and truth come
from the nodule's implicit shape and need no rendering.

Default parameters (the ``ingestion.phantom`` block of conf/base/parameters_ingestion.yml)::

    n_patients: 59
    seed: 2024
    kernels: [smooth, medium, sharp]
    slice_thicknesses_mm: [1.0, 2.0]
    pixel_spacing_mm: 0.7
    matrix_size: 128        # 89.6 mm field of view: the 50 mm FMCIB cube plus the chest wall
    z_extent_mm: 64.0
    fine_z_step_mm: 0.25
    slice_profile_fwhm_mm: {}   # thickness: SSP FWHM (mm), e.g. {1.0: 1.1}; unlisted: nominal
    kernel_specs:           # per kernel class; the MTF model is fitted to these (kernels.py)
      smooth: {mtf50_lpmm: 0.35, mtf10_lpmm: 0.59, noise_sd_1mm_hu: 35.0}
      medium: {mtf50_lpmm: 0.45, mtf10_lpmm: 0.75, noise_sd_1mm_hu: 51.0}
      sharp: {mtf50_lpmm: 0.68, mtf10_lpmm: 0.98, mtf_peak: 1.15, noise_sd_1mm_hu: 98.0}
    nodule:
      diameter_median_mm: 7.0
      diameter_sigma_log: 0.5
      diameter_min_mm: 4.0
      diameter_max_mm: 30.0
      type_probabilities: {solid: 0.55, part_solid: 0.15, ground_glass: 0.20, calcified: 0.10}
      margin_probabilities: {smooth: 0.50, lobulated: 0.30, spiculated: 0.20}
      juxtapleural_probability: 0.25
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import SimpleITK as sitk

from lung_fm_robustness import manifest
from lung_fm_robustness.phantom import validation as v
from lung_fm_robustness.phantom.anatomy import WALL_IN_FOV_MM, AnatomySpec, draw_anatomy
from lung_fm_robustness.phantom.geometry import VolumeGeometry
from lung_fm_robustness.phantom.kernels import KernelSpec
from lung_fm_robustness.phantom.nodules import (
    CUBE_OVERHANG_MM,
    FMCIB_CUBE_MM,
    NODULE_MARGIN_MM,
    PLEURA_CLEARANCE_MM,
    NoduleDistribution,
    NoduleSpec,
    draw_nodule,
)
from lung_fm_robustness.phantom.reconstruction import (
    Acquisition,
    reconstruct_hu,
    to_int16_hu,
    white_noise,
)
from lung_fm_robustness.phantom.scene import measure_nodule, nodule_mask_array, render_true_volume

DEFAULT_PARAMS: dict[str, Any] = {
    "n_patients": 59,
    "seed": 2024,
    "kernels": ["smooth", "medium", "sharp"],
    "slice_thicknesses_mm": [1.0, 2.0],
    "pixel_spacing_mm": 0.7,
    "matrix_size": 128,
    "z_extent_mm": 64.0,
    "fine_z_step_mm": 0.25,
    "slice_profile_fwhm_mm": {},
    "kernel_specs": {
        "smooth": {"mtf50_lpmm": 0.35, "mtf10_lpmm": 0.59, "noise_sd_1mm_hu": 35.0},
        "medium": {"mtf50_lpmm": 0.45, "mtf10_lpmm": 0.75, "noise_sd_1mm_hu": 51.0},
        "sharp": {
            "mtf50_lpmm": 0.68,
            "mtf10_lpmm": 0.98,
            "mtf_peak": 1.15,
            "noise_sd_1mm_hu": 98.0,
        },
    },
    "nodule": {
        "diameter_median_mm": 7.0,
        "diameter_sigma_log": 0.5,
        "diameter_min_mm": 4.0,
        "diameter_max_mm": 30.0,
        "type_probabilities": {
            "solid": 0.55,
            "part_solid": 0.15,
            "ground_glass": 0.20,
            "calcified": 0.10,
        },
        "margin_probabilities": {"smooth": 0.50, "lobulated": 0.30, "spiculated": 0.20},
        "juxtapleural_probability": 0.25,
    },
}
_KERNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")  # part of file names and scan ids
_STREAMS = ("anatomy_and_nodule", "texture", "noise")


@dataclass(frozen=True)
class PhantomConfig:
    """Validated ``ingestion.phantom`` parameters (see the module docstring for defaults)."""

    n_patients: int
    seed: int
    kernels: tuple[str, ...]
    slice_thicknesses_mm: tuple[float, ...]
    pixel_spacing_mm: float
    matrix_size: int
    z_extent_mm: float
    fine_z_step_mm: float
    slice_profile_fwhm_mm: Mapping[float, float]  # every thickness, nominal unless configured
    kernel_specs: Mapping[str, KernelSpec]
    nodule: NoduleDistribution

    @classmethod
    def from_params(cls, params: dict) -> PhantomConfig:
        params = v.mapping(params, "")
        v.known_keys(params, tuple(DEFAULT_PARAMS), "")
        get = lambda key: v.required(params, key, "")  # noqa: E731
        specs = v.mapping(get("kernel_specs"), "kernel_specs")
        kernel_specs = {
            name: KernelSpec.from_params(spec, f"kernel_specs.{name}")
            for name, spec in specs.items()
        }
        kernels = tuple(v.unique_list(get("kernels"), "kernels", "kernel names"))
        for name in kernels:
            if not isinstance(name, str) or not _KERNEL_NAME.match(name):
                raise ValueError(
                    f"{v.PARAMS_PATH}.kernels: {name!r} is not a valid kernel name "
                    "(letters, digits and '-'; it becomes part of file names)"
                )
            if name not in kernel_specs:
                raise ValueError(
                    f"{v.PARAMS_PATH}.kernels lists {name!r} but {v.PARAMS_PATH}.kernel_specs "
                    f"has no entry for it (defined: {', '.join(kernel_specs) or 'none'})"
                )
        fine_step = v.real(get("fine_z_step_mm"), "fine_z_step_mm", 0.0, 0.5, low_inclusive=False)
        thicknesses = tuple(
            v.real(t, f"slice_thicknesses_mm[{i}]", 2 * fine_step, 10.0)
            for i, t in enumerate(
                v.unique_list(get("slice_thicknesses_mm"), "slice_thicknesses_mm", "numbers (mm)")
            )
        )
        if len({f"{t:.1f}" for t in thicknesses}) != len(thicknesses):
            raise ValueError(
                f"{v.PARAMS_PATH}.slice_thicknesses_mm {list(thicknesses)} must differ at 0.1 mm "
                "(scan ids carry the thickness with one decimal)"
            )
        config = cls(
            n_patients=v.positive_int(get("n_patients"), "n_patients"),
            seed=v.non_negative_int(get("seed"), "seed"),
            kernels=kernels,
            slice_thicknesses_mm=thicknesses,
            pixel_spacing_mm=v.real(
                get("pixel_spacing_mm"), "pixel_spacing_mm", 0.0, 2.0, low_inclusive=False
            ),
            matrix_size=v.positive_int(get("matrix_size"), "matrix_size"),
            z_extent_mm=v.positive(get("z_extent_mm"), "z_extent_mm"),
            fine_z_step_mm=fine_step,
            slice_profile_fwhm_mm=MappingProxyType(
                _slice_profiles(get("slice_profile_fwhm_mm"), thicknesses, fine_step)
            ),
            kernel_specs=MappingProxyType(kernel_specs),
            nodule=NoduleDistribution.from_params(get("nodule"), "nodule"),
        )
        config._check_room()
        return config

    def _check_room(self) -> None:
        """The volume must hold the largest nodule, most of the FMCIB cube and the chest wall."""
        extent = self.nodule.max_extent_mm() + NODULE_MARGIN_MM
        inset = max(extent, FMCIB_CUBE_MM / 2 - CUBE_OVERHANG_MM)
        need_z = 2 * inset
        need_xy = inset + WALL_IN_FOV_MM[1] + extent + PLEURA_CLEARANCE_MM
        fov = self.matrix_size * self.pixel_spacing_mm
        hint = f"for nodules up to {self.nodule.diameter_max_mm} mm (nodule.diameter_max_mm)"
        if fov < need_xy:
            raise ValueError(
                f"{v.PARAMS_PATH}.matrix_size x pixel_spacing_mm = {fov:.1f} mm is too small "
                f"{hint}: needs >= {need_xy:.1f} mm"
            )
        if self.z_extent_mm < need_z:
            raise ValueError(
                f"{v.PARAMS_PATH}.z_extent_mm = {self.z_extent_mm} mm is too small {hint}: "
                f"needs >= {need_z:.1f} mm"
            )


def _slice_profiles(
    value: Any, thicknesses: tuple[float, ...], fine_step: float
) -> dict[float, float]:
    """SSP FWHM of every thickness: the configured ones, the nominal thickness otherwise."""
    name = f"{v.PARAMS_PATH}.slice_profile_fwhm_mm"
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name} must map slice thicknesses to SSP FWHMs in mm, e.g. {{1.0: 1.1}}, "
            f"got {value!r}"
        )
    profiles = {t: t for t in thicknesses}
    for key, fwhm in value.items():
        thickness = next((t for t in thicknesses if _same_number(key, t)), None)
        if thickness is None:
            raise ValueError(
                f"{name} has an entry for {key!r}, which is not one of "
                f"{v.PARAMS_PATH}.slice_thicknesses_mm {list(thicknesses)}"
            )
        profiles[thickness] = v.real(
            fwhm, f"slice_profile_fwhm_mm[{thickness}]", 2 * fine_step, 10.0
        )
    return profiles


def _same_number(key: Any, number: float) -> bool:
    """``key`` (a YAML number, or a numeric string from the command line) equals ``number``."""
    try:
        return not isinstance(key, bool) and abs(float(key) - number) < 1e-9
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class PatientSpec:
    """Everything random about one patient, drawn from ``(seed, index)``."""

    patient_id: str
    index: int
    seed: int
    anatomy: AnatomySpec
    nodule: NoduleSpec


def _seed_sequence(seed: int, index: int, stream: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, index]).spawn(len(_STREAMS))[_STREAMS.index(stream)]


def _rng(seed: int, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng(_seed_sequence(seed, index, stream))


def _patient_id(config: PhantomConfig, index: int) -> str:
    return f"PH{index + 1:0{max(3, len(str(config.n_patients)))}d}"


def patient_ids(config: PhantomConfig) -> list[str]:
    """``PH001`` ... (zero-padded to at least three digits)."""
    return [_patient_id(config, i) for i in range(config.n_patients)]


def scan_id(patient_id: str, kernel: str, thickness_mm: float) -> str:
    """``PH001_medium_1.0mm``: the study-wide identifier of one reconstruction."""
    return manifest.scan_id(patient_id, kernel, thickness_mm)


def _geometry(
    config: PhantomConfig, fov_centre_xy_mm: tuple[float, float], z_start_mm: float
) -> VolumeGeometry:
    fov = config.matrix_size * config.pixel_spacing_mm
    corner = [c - fov / 2 + config.pixel_spacing_mm / 2 for c in fov_centre_xy_mm]
    return VolumeGeometry(
        pixel_spacing_mm=config.pixel_spacing_mm,
        matrix_size=config.matrix_size,
        origin_xy_mm=(corner[0], corner[1]),
        z_start_mm=z_start_mm,
        z_extent_mm=config.z_extent_mm,
        fine_z_step_mm=config.fine_z_step_mm,
        slice_profiles_mm=tuple(config.slice_profile_fwhm_mm.items()),
    )


def volume_geometry(config: PhantomConfig, spec: PatientSpec) -> VolumeGeometry:
    """Where this patient's acquisition and reconstructions sit (LPS mm)."""
    return _geometry(config, spec.anatomy.fov_centre_xy_mm, spec.anatomy.z_start_mm)


def draw_patient(config: PhantomConfig, index: int) -> PatientSpec:
    """The patient at ``index``: anatomy, field-of-view placement and nodule (cheap)."""
    if not 0 <= index < config.n_patients:
        raise IndexError(f"patient index {index} outside 0..{config.n_patients - 1}")
    rng = _rng(config.seed, index, "anatomy_and_nodule")
    anatomy = draw_anatomy(rng, config.matrix_size * config.pixel_spacing_mm, config.z_extent_mm)
    geometry = _geometry(config, anatomy.fov_centre_xy_mm, anatomy.z_start_mm)
    nodule = draw_nodule(rng, config.nodule, anatomy, geometry)
    return PatientSpec(_patient_id(config, index), index, config.seed, anatomy, nodule)


def render_acquisition(config: PhantomConfig, spec: PatientSpec) -> Acquisition:
    """The fine noise-free volume and the patient's quantum-noise field (the heavy step)."""
    geometry = volume_geometry(config, spec)
    true_hu = render_true_volume(
        spec.anatomy, spec.nodule, geometry, _rng(spec.seed, spec.index, "texture")
    )
    noise = white_noise(_seed_sequence(spec.seed, spec.index, "noise"), true_hu.shape)
    return Acquisition(geometry, true_hu, noise)


def _kernel_spec(config: PhantomConfig, kernel: str) -> KernelSpec:
    if kernel not in config.kernel_specs:
        raise ValueError(
            f"unknown kernel {kernel!r}; {v.PARAMS_PATH}.kernel_specs defines "
            f"{', '.join(config.kernel_specs)}"
        )
    return config.kernel_specs[kernel]


def _image(array: np.ndarray, geometry: VolumeGeometry, thickness_mm: float) -> sitk.Image:
    """``array`` (z, y, x) with this reconstruction's origin, spacing and identity direction."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((geometry.pixel_spacing_mm, geometry.pixel_spacing_mm, float(thickness_mm)))
    image.SetOrigin((*geometry.origin_xy_mm, float(geometry.slice_centres_mm(thickness_mm)[0])))
    return image


def reconstruct(
    config: PhantomConfig, acquisition: Acquisition, kernel: str, thickness_mm: float
) -> sitk.Image:
    """One int16 HU reconstruction of ``acquisition`` with ``kernel`` and slice ``thickness_mm``."""
    hu = reconstruct_hu(acquisition, _kernel_spec(config, kernel), float(thickness_mm))
    return _image(to_int16_hu(hu), acquisition.geometry, thickness_mm)


def nodule_mask(
    config: PhantomConfig, spec: PatientSpec, kernel: str, thickness_mm: float
) -> sitk.Image:
    """uint8 ground-truth mask on exactly the grid of ``reconstruct(..., kernel, thickness_mm)``."""
    _kernel_spec(config, kernel)
    geometry = volume_geometry(config, spec)
    mask = nodule_mask_array(
        spec.nodule,
        spec.anatomy,
        geometry.axis_mm(0, False),
        geometry.axis_mm(1, False),
        geometry.slice_centres_mm(float(thickness_mm)),
    )
    return _image(mask, geometry, thickness_mm)


def nodule_centre_lps(spec: PatientSpec) -> tuple[float, float, float]:
    """The nodule centre (LPS mm): the FMCIB crop centre and the manifest's coordX/Y/Z."""
    return tuple(float(c) for c in spec.nodule.centre_lps_mm)


def nodule_truth(config: PhantomConfig, spec: PatientSpec) -> dict[str, Any]:
    """Ground truth of the patient's nodule, one row of the ``nodule_truth`` table."""
    volume, mean_hu = measure_nodule(spec.nodule, spec.anatomy)
    x, y, z = nodule_centre_lps(spec)
    return {
        "patient_id": spec.patient_id,
        "nodule_type": spec.nodule.nodule_type,
        "margin": spec.nodule.margin,
        "diameter_mm": spec.nodule.diameter_mm,
        "volume_mm3": volume,
        "centre_x_mm": x,
        "centre_y_mm": y,
        "centre_z_mm": z,
        "juxtapleural": spec.nodule.juxtapleural,
        "mean_hu": mean_hu,
    }
