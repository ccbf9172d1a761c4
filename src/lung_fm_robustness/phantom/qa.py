"""The phantom measures itself against its kernel and slice-profile specification.

Test objects (``qa_objects``) go through the study's reconstruction (``study.reconstruct``,
int16 output included) for every kernel and slice thickness, and ``image_quality``
measures the images. Each measured quantity is compared with its target:

- ``mtf50``, ``mtf10`` (lp/mm), ``mtf_peak``: the kernel's ``mtf50_lpmm``, ``mtf10_lpmm``,
  ``mtf_peak`` (1: no overshoot);
- ``noise_sd`` (HU): ``noise_sd_1mm_hu`` x sqrt(FWHM(1 mm) / FWHM(T)), noise falling as the
  square root of the slice profile's width;
- ``noise_sd_ratio``: SD of the kernel over SD of the first kernel, same thickness; the
  ratio of their ``noise_sd_1mm_hu``;
- ``noise_sd_thickness_ratio``: SD at T over SD at the thinnest slice, same kernel;
  sqrt(FWHM(thinnest) / FWHM(T)), 1/sqrt(2) for 2 mm over 1 mm;
- ``nps_peak`` (lp/mm): where the filtered back-projection NPS ``f MTF(f)^2`` of the
  specified MTF peaks;
- ``ssp_fwhm`` (mm): the thickness's ``slice_profile_fwhm_mm`` (nominal by default).

A quantity passes when its relative error is within ``phantom_qa.tolerances``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.phantom import image_quality as iq
from lung_fm_robustness.phantom import qa_objects
from lung_fm_robustness.phantom.geometry import VolumeGeometry
from lung_fm_robustness.phantom.kernels import nps_peak_lpmm
from lung_fm_robustness.phantom.reconstruction import NOISE_REFERENCE_THICKNESS_MM, Acquisition
from lung_fm_robustness.phantom.study import PhantomConfig, reconstruct

PARAMS_PATH = "phantom_qa"
QUANTITIES = {
    "mtf50": "lp/mm",
    "mtf10": "lp/mm",
    "mtf_peak": "1",
    "noise_sd": "HU",
    "noise_sd_ratio": "1",
    "noise_sd_thickness_ratio": "1",
    "nps_peak": "lp/mm",
    "ssp_fwhm": "mm",
}
TABLE_COLUMNS = [
    "quantity",
    "kernel",
    "slice_thickness_mm",
    "measured",
    "target",
    "unit",
    "relative_error",
    "tolerance",
    "passed",
]
# curve: mtf (x: lp/mm, y: MTF), nps (x: lp/mm, y: HU^2 mm^2), ssp (x: z offset mm, y: peak 1)
CURVE_COLUMNS = ["curve", "kernel", "slice_thickness_mm", "x", "y"]
NPS_ROI_PX = 64
MTF_CURVE_MIN_LPMM = 1.5  # the MTF curve reaches this, or 1.5 x the highest MTF10 target


def tolerances_from_params(params: Any) -> dict[str, float]:
    """``phantom_qa.tolerances``: the relative error each quantity may have, in (0, 1]."""
    where = f"{PARAMS_PATH}.tolerances"
    table = params.get("tolerances") if isinstance(params, Mapping) else None
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a mapping of quantity to relative tolerance")
    missing, unknown = sorted(set(QUANTITIES) - set(table)), sorted(set(table) - set(QUANTITIES))
    if missing or unknown:
        raise ValueError(
            f"{where} must give exactly the quantities {', '.join(QUANTITIES)}; "
            f"missing {missing}, unknown {unknown}"
        )
    for name, value in table.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
            raise ValueError(f"{where}.{name} must be a number in (0, 1], got {value!r}")
    return {name: float(table[name]) for name in QUANTITIES}


class _Measurements:
    """Rows, curves and noise SDs collected per kernel and thickness."""

    def __init__(self, tolerances: Mapping[str, float]) -> None:
        self.tolerances = tolerances
        self.rows: list[dict[str, Any]] = []
        self.curves: list[pd.DataFrame] = []
        self.noise_sd: dict[tuple[str, float], float] = {}

    def add(
        self, quantity: str, kernel: str, thickness: float, measured: float, target: float
    ) -> None:
        error = (measured - target) / target
        tolerance = self.tolerances[quantity]
        self.rows.append(
            {
                "quantity": quantity,
                "kernel": kernel,
                "slice_thickness_mm": thickness,
                "measured": measured,
                "target": target,
                "unit": QUANTITIES[quantity],
                "relative_error": error,
                "tolerance": tolerance,
                "passed": bool(abs(error) <= tolerance),  # NaN (not measurable) fails
            }
        )

    def curve(self, name: str, kernel: str, thickness: float, x, y) -> None:
        self.curves.append(
            pd.DataFrame(
                {"curve": name, "kernel": kernel, "slice_thickness_mm": thickness, "x": x, "y": y}
            )
        )


def _slices(config: PhantomConfig, acquisition: Acquisition, kernel: str, thickness: float):
    return sitk.GetArrayFromImage(reconstruct(config, acquisition, kernel, thickness))


def _measure_mtf(
    found: _Measurements,
    config: PhantomConfig,
    edge: Acquisition,
    kernel: str,
    thickness: float,
    max_frequency: float,
) -> None:
    spec = config.kernel_specs[kernel]
    image = _slices(config, edge, kernel, thickness)
    quarter = image.shape[1] // 4  # central rows: clear of the edge's wrap-around
    rows = image[image.shape[0] // 2, quarter : image.shape[1] - quarter]
    f, mtf = iq.edge_mtf(rows, edge.geometry.pixel_spacing_mm, max_frequency)
    mtf = mtf / qa_objects.edge_transfer(f)
    found.curve("mtf", kernel, thickness, f, mtf)
    found.add("mtf50", kernel, thickness, iq.falling_crossing(f, mtf, 0.5), spec.mtf50_lpmm)
    found.add("mtf10", kernel, thickness, iq.falling_crossing(f, mtf, 0.1), spec.mtf10_lpmm)
    found.add("mtf_peak", kernel, thickness, float(mtf.max()), spec.mtf_peak)


def _measure_noise(
    found: _Measurements, config: PhantomConfig, uniform: Acquisition, kernel: str, thickness: float
) -> None:
    spec = config.kernel_specs[kernel]
    geometry = uniform.geometry
    rois = iq.rois(_slices(config, uniform, kernel, thickness), min(NPS_ROI_PX, config.matrix_size))
    sd = found.noise_sd[kernel, thickness] = iq.noise_sd(rois)
    reference = geometry.ssp_fwhm_mm(NOISE_REFERENCE_THICKNESS_MM)
    target = spec.noise_sd_1mm_hu * math.sqrt(reference / geometry.ssp_fwhm_mm(thickness))
    found.add("noise_sd", kernel, thickness, sd, target)
    f, nps = iq.radial_nps(rois, geometry.pixel_spacing_mm)
    found.curve("nps", kernel, thickness, f, nps)
    found.add("nps_peak", kernel, thickness, iq.peak_frequency(f, nps), nps_peak_lpmm(spec))


def _measure_ssp(
    found: _Measurements,
    config: PhantomConfig,
    plate: tuple[Acquisition, float, int],
    kernel: str,
    thickness: float,
) -> None:
    acquisition, tan, k = plate
    profile = _slices(config, acquisition, kernel, thickness)[k].mean(axis=0)
    z = acquisition.geometry.axis_mm(0, False) * tan
    found.curve("ssp", kernel, thickness, z, profile / profile.max())
    target = config.slice_profile_fwhm_mm[thickness]
    found.add("ssp_fwhm", kernel, thickness, iq.fwhm(z, profile), target)


def _add_noise_ratios(
    found: _Measurements, config: PhantomConfig, geometry: VolumeGeometry
) -> None:
    """SD across kernels (to the first kernel) and across thicknesses (to the thinnest)."""
    sd, width = found.noise_sd, geometry.ssp_fwhm_mm
    first, thinnest = config.kernels[0], min(config.slice_thicknesses_mm)
    for kernel in config.kernels:
        for thickness in config.slice_thicknesses_mm:
            if kernel != first:
                target = (
                    config.kernel_specs[kernel].noise_sd_1mm_hu
                    / config.kernel_specs[first].noise_sd_1mm_hu
                )
                measured = sd[kernel, thickness] / sd[first, thickness]
                found.add("noise_sd_ratio", kernel, thickness, measured, target)
            if thickness != thinnest:
                target = math.sqrt(width(thinnest) / width(thickness))
                measured = sd[kernel, thickness] / sd[kernel, thinnest]
                found.add("noise_sd_thickness_ratio", kernel, thickness, measured, target)


def measure_phantom(
    config: PhantomConfig, tolerances: Mapping[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The QA table (``TABLE_COLUMNS``) and the measured curves (``CURVE_COLUMNS``)."""
    uniform = qa_objects.uniform_acquisition(config, seed=config.seed)
    edge = qa_objects.slanted_edge(config)
    plates = {t: qa_objects.inclined_plate(config, t) for t in config.slice_thicknesses_mm}
    max_frequency = max(
        MTF_CURVE_MIN_LPMM, 1.5 * max(s.mtf10_lpmm for s in config.kernel_specs.values())
    )
    found = _Measurements(tolerances)
    for kernel in config.kernels:
        for thickness in config.slice_thicknesses_mm:
            _measure_mtf(found, config, edge, kernel, thickness, max_frequency)
            _measure_noise(found, config, uniform, kernel, thickness)
            _measure_ssp(found, config, plates[thickness], kernel, thickness)
    _add_noise_ratios(found, config, uniform.geometry)

    table = pd.DataFrame(found.rows, columns=TABLE_COLUMNS)
    order = {q: i for i, q in enumerate(QUANTITIES)}
    table = table.sort_values("quantity", key=lambda q: q.map(order), kind="stable")
    return table.reset_index(drop=True), pd.concat(found.curves, ignore_index=True)


def qa_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Measured values keyed ``phantom_qa.<kernel>_<thickness>.<quantity>``, and failures."""
    metrics = {
        f"{PARAMS_PATH}.{row.kernel}_{row.slice_thickness_mm:.1f}.{row.quantity}": float(
            row.measured
        )
        for row in table.itertuples(index=False)
    }
    metrics[f"{PARAMS_PATH}.n_failed"] = float((~table["passed"]).sum())
    return metrics
