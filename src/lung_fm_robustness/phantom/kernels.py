"""Reconstruction kernels as in-plane transfer functions: resolution (MTF) and noise texture.

A kernel class is specified the way a physicist states it: the frequencies where its MTF
falls to 50 % and 10 %, the height of its mid-frequency overshoot (1 = none) and the noise
SD of a 1 mm reconstruction (shared/reference/ct-physics.md). The simulator uses one
parametric MTF, ``(1 + b (f/f0)^2) exp(-(f/f0)^p)``, whose ``f0, p, b`` are solved from
that specification: closed form without overshoot, a 2-D root otherwise. Filtered
back-projection shapes quantum noise by the ramp times the kernel, so its noise power
spectrum is ``f * MTF(f)^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import brentq, least_squares, minimize_scalar

from lung_fm_robustness.phantom import validation as v

SPEC_KEYS = ("mtf50_lpmm", "mtf10_lpmm", "mtf_peak", "noise_sd_1mm_hu")
# Shapes the fit may use: p outside this range is a cusp at f = 0 or a brick wall.
P_RANGE = (1.0, 5.0)
B_RANGE = (1e-6, 50.0)
FIT_TOLERANCE = 1e-8
# An overshooting MTF may sag this much below 1 before it rises to its peak (the reference
# sharp kernel: 0.3 %); more is a kernel no scanner has, and an edge ESF cannot measure.
MAX_LOW_FREQUENCY_DIP = 0.02
# Normalised frequencies f / f0 searched for the peak and the crossings.
_X_GRID = np.linspace(0.0, 40.0, 40001)


@dataclass(frozen=True)
class KernelSpec:
    """A kernel class as specified (lp/mm, HU) and the MTF parameters fitted to it."""

    mtf50_lpmm: float
    mtf10_lpmm: float
    mtf_peak: float
    noise_sd_1mm_hu: float
    f0: float
    p: float
    b: float

    @classmethod
    def from_params(cls, params: Any, name: str) -> KernelSpec:
        """Validated spec from ``{mtf50_lpmm, mtf10_lpmm, mtf_peak?, noise_sd_1mm_hu}``.

        ``name`` is its parameter path; ``mtf_peak`` defaults to 1 (no overshoot).
        """
        params = v.mapping(params, name)
        v.known_keys(params, SPEC_KEYS, name)
        mtf50 = v.real(
            v.required(params, "mtf50_lpmm", name),
            f"{name}.mtf50_lpmm",
            0.0,
            5.0,
            low_inclusive=False,
        )
        mtf10 = v.real(
            v.required(params, "mtf10_lpmm", name),
            f"{name}.mtf10_lpmm",
            mtf50,
            10.0,
            low_inclusive=False,
        )
        peak = v.real(params.get("mtf_peak", 1.0), f"{name}.mtf_peak", 1.0, 2.0)
        noise = v.positive(v.required(params, "noise_sd_1mm_hu", name), f"{name}.noise_sd_1mm_hu")
        try:
            f0, p, b = fit_mtf_model(mtf50, mtf10, peak)
        except ValueError as err:
            raise ValueError(f"{v.PARAMS_PATH}.{name}: {err}") from None
        return cls(mtf50, mtf10, peak, noise, f0, p, b)


def _shape(x: np.ndarray | float, p: float, b: float) -> np.ndarray:
    """The MTF model at normalised frequency ``x = f / f0``."""
    x = np.asarray(x, dtype=np.float64)
    return (1.0 + b * x**2) * np.exp(-(x**p))


def _peak(p: float, b: float) -> tuple[float, float]:
    """Normalised frequency and height of the model's maximum."""
    values = _shape(_X_GRID, p, b)
    i = int(np.argmax(values))
    if i == 0:
        return 0.0, 1.0
    found = minimize_scalar(
        lambda x: -float(_shape(x, p, b)),
        bounds=(_X_GRID[i - 1], _X_GRID[i + 1]),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return float(found.x), float(-found.fun)


def _falling_crossing(p: float, b: float, level: float) -> float:
    """Normalised frequency where the model falls through ``level`` after its peak."""
    values = _shape(_X_GRID, p, b)
    start = int(np.argmax(values))
    below = np.flatnonzero(values[start:] < level)
    if not below.size:
        raise ValueError(f"the MTF never falls to {level}")
    j = start + int(below[0])
    return brentq(lambda x: float(_shape(x, p, b)) - level, _X_GRID[j - 1], _X_GRID[j], xtol=1e-13)


@lru_cache(maxsize=64)
def fit_mtf_model(mtf50: float, mtf10: float, peak: float) -> tuple[float, float, float]:
    """``(f0, p, b)`` of the model with these MTF50, MTF10 (lp/mm) and peak height.

    Without overshoot ``b = 0`` and ``p = ln(ln10/ln2) / ln(MTF10/MTF50)``. With overshoot
    the peak height and the ratio MTF10/MTF50 depend on ``(p, b)`` alone and fix them;
    ``f0`` then scales the curve onto MTF50.
    """
    ratio = math.log(mtf10 / mtf50)
    p_without = math.log(math.log(10.0) / math.log(2.0)) / ratio
    if peak == 1.0:
        p, b = p_without, 0.0
    else:

        def residual(u: np.ndarray) -> list[float]:
            p, b = np.exp(u)
            x50, x10 = _falling_crossing(p, b, 0.5), _falling_crossing(p, b, 0.1)
            return [math.log(x10 / x50) - ratio, math.log(_peak(p, b)[1] / peak)]

        bounds = np.log([(P_RANGE[0], B_RANGE[0]), (P_RANGE[1], B_RANGE[1])])
        start = np.clip(np.log([p_without, 1.0]), bounds[0] + 1e-9, bounds[1] - 1e-9)
        fit = least_squares(residual, start, bounds=bounds, xtol=1e-14, ftol=1e-14, gtol=1e-14)
        if np.max(np.abs(fit.fun)) > FIT_TOLERANCE:
            raise ValueError(
                f"no MTF (1 + b (f/f0)^2) exp(-(f/f0)^p) with p in {list(P_RANGE)} has "
                f"MTF50 {mtf50}, MTF10 {mtf10} lp/mm and a peak of {peak}; lower mtf_peak or "
                "change the gap between mtf50_lpmm and mtf10_lpmm"
            )
        p, b = (float(x) for x in np.exp(fit.x))
        before_peak = np.linspace(0.0, _peak(p, b)[0], 2001)
        if _shape(before_peak, p, b).min() < 1.0 - MAX_LOW_FREQUENCY_DIP:
            raise ValueError(
                f"the MTF with MTF50 {mtf50}, MTF10 {mtf10} lp/mm and a peak of {peak} dips "
                f"below {1 - MAX_LOW_FREQUENCY_DIP} at low frequencies; lower mtf_peak"
            )
    if not P_RANGE[0] <= p <= P_RANGE[1]:
        raise ValueError(
            f"MTF50 {mtf50} and MTF10 {mtf10} lp/mm need an MTF exponent p = {p:.2f}, outside "
            f"{list(P_RANGE)}: mtf10_lpmm is too {'far from' if p < P_RANGE[0] else 'close to'} "
            "mtf50_lpmm"
        )
    return mtf50 / _falling_crossing(p, b, 0.5), p, b


def mtf(f: np.ndarray | float, spec: KernelSpec) -> np.ndarray:
    """Modulation transfer at spatial frequency ``f`` (lp/mm)."""
    return _shape(np.asarray(f, dtype=np.float64) / spec.f0, spec.p, spec.b)


def nps_shape(f: np.ndarray | float, spec: KernelSpec) -> np.ndarray:
    """Unnormalised in-plane noise power spectrum of filtered back-projection."""
    return np.asarray(f, dtype=np.float64) * mtf(f, spec) ** 2


def noise_amplitude(f: np.ndarray | float, spec: KernelSpec) -> np.ndarray:
    """Filter that turns white noise into noise with the kernel's NPS shape."""
    return np.sqrt(np.asarray(f, dtype=np.float64)) * mtf(f, spec)


def mtf50_mtf10(spec: KernelSpec) -> tuple[float, float]:
    """The frequencies (lp/mm) at which the model MTF falls to 50 % and 10 %."""
    return tuple(spec.f0 * _falling_crossing(spec.p, spec.b, level) for level in (0.5, 0.1))


def mtf_maximum(spec: KernelSpec) -> tuple[float, float]:
    """Frequency (lp/mm) and height of the model MTF's maximum (``(0, 1)``: no overshoot)."""
    x, height = _peak(spec.p, spec.b)
    return spec.f0 * x, height


def nps_peak_lpmm(spec: KernelSpec) -> float:
    """Frequency (lp/mm) where the filtered back-projection NPS ``f MTF(f)^2`` peaks.

    The expectation the QA compares the measured NPS with: FBP theory applied to the
    specified MTF (shared/reference/ct-physics.md gives ~0.21 / 0.27 / 0.40 lp/mm).
    """
    x = _X_GRID[1:]
    values = x * _shape(x, spec.p, spec.b) ** 2
    i = int(np.argmax(values))
    found = minimize_scalar(
        lambda t: -float(t * _shape(t, spec.p, spec.b) ** 2),
        bounds=(x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)]),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return spec.f0 * float(found.x)
