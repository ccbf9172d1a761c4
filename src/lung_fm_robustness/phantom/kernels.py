"""Reconstruction kernels as in-plane transfer functions: resolution (MTF) and noise texture.

One parametric MTF, ``(1 + b (f/f0)^2) exp(-(f/f0)^p)``, reproduces the published MTF50 /
MTF10 of smooth, medium and sharp clinical kernels and, with ``b > 0``, the mid-frequency
overshoot of edge-enhancing kernels (shared/reference/ct-physics.md). Filtered
back-projection shapes quantum noise by the ramp times the kernel, so its noise power
spectrum is ``f * MTF(f)^2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from lung_fm_robustness.phantom import validation as v


@dataclass(frozen=True)
class KernelSpec:
    """MTF parameters (``f0`` in lp/mm) and the noise SD (HU) of a 1 mm reconstruction."""

    f0: float
    p: float
    b: float
    noise_sd_1mm_hu: float

    @classmethod
    def from_params(cls, params: Any, name: str) -> KernelSpec:
        """Validated spec from ``{f0, p, b, noise_sd_1mm_hu}``; ``name`` is its parameter path."""
        params = v.mapping(params, name)
        v.known_keys(params, ("f0", "p", "b", "noise_sd_1mm_hu"), name)
        return cls(
            f0=v.positive(v.required(params, "f0", name), f"{name}.f0"),
            p=v.real(v.required(params, "p", name), f"{name}.p", 0.5, 5.0),
            b=v.real(params.get("b", 0.0), f"{name}.b", 0.0, 10.0),
            noise_sd_1mm_hu=v.positive(
                v.required(params, "noise_sd_1mm_hu", name), f"{name}.noise_sd_1mm_hu"
            ),
        )


def mtf(f: np.ndarray | float, spec: KernelSpec) -> np.ndarray:
    """Modulation transfer at spatial frequency ``f`` (lp/mm)."""
    x = np.asarray(f, dtype=np.float64) / spec.f0
    return (1.0 + spec.b * x**2) * np.exp(-(x**spec.p))


def nps_shape(f: np.ndarray | float, spec: KernelSpec) -> np.ndarray:
    """Unnormalised in-plane noise power spectrum of filtered back-projection."""
    return np.asarray(f, dtype=np.float64) * mtf(f, spec) ** 2


def noise_amplitude(f: np.ndarray | float, spec: KernelSpec) -> np.ndarray:
    """Filter that turns white noise into noise with the kernel's NPS shape."""
    return np.sqrt(np.asarray(f, dtype=np.float64)) * mtf(f, spec)


def _falling_crossing(spec: KernelSpec, level: float) -> float:
    """Frequency where the MTF falls through ``level`` after its peak (overshoot included)."""
    grid = np.linspace(0.0, 20.0 * spec.f0, 20001)
    values = mtf(grid, spec)
    start = int(np.argmax(values))
    below = start + int(np.argmax(values[start:] < level))
    return brentq(lambda f: float(mtf(f, spec)) - level, grid[below - 1], grid[below], xtol=1e-10)


def mtf50_mtf10(spec: KernelSpec) -> tuple[float, float]:
    """The frequencies (lp/mm) at which the MTF falls to 50 % and 10 %."""
    return _falling_crossing(spec, 0.5), _falling_crossing(spec, 0.1)
