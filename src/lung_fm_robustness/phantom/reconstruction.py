"""From one acquisition to one reconstruction (kernel x slice thickness).

All reconstructions of a patient derive from the same noise-free object and the same
white quantum-noise field, as reconstructions of one raw data set do: the kernel filters
the object by its MTF and the noise by ``sqrt(f) MTF(f)`` (noise power ``f MTF^2``, the
filtered back-projection NPS), the Gaussian slice sensitivity profile (FWHM = nominal
thickness unless configured otherwise) filters both along z on the fine grid, and slices are
sampled one thickness apart. Every step is linear, so z filtering and sampling come first
(fewer planes to transform) and both fields share one inverse FFT per kernel.

Noise is scaled analytically: white noise of unit variance, z-weighted by ``w`` and
filtered in-plane by ``H``, has variance ``sum(w^2) * mean(|H|^2)`` over the DFT grid
(Parseval). The scale makes the 1 mm reconstruction's SD the kernel's ``noise_sd_1mm_hu``;
wider slice profiles average more fine samples and get ``~1/sqrt(FWHM)`` of it by themselves.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.sparse

from lung_fm_robustness.phantom.geometry import (
    IN_PLANE_PAD_PX,
    SSP_TRUNCATION_SD,
    VolumeGeometry,
    ssp_sigma_mm,
)
from lung_fm_robustness.phantom.kernels import KernelSpec, mtf, noise_amplitude

NOISE_REFERENCE_THICKNESS_MM = 1.0
HU_RANGE = (-32768, 32767)
NOISE_CHUNKS = 8


@dataclass(eq=False)
class Acquisition:
    """One scan's raw material: the noise-free object and its quantum-noise realisation.

    Both are float32 arrays on the acquisition grid (fine z, padded y, padded x); the
    z-filtered, Fourier-transformed slabs are cached per thickness for the other kernels.
    """

    geometry: VolumeGeometry
    true_hu: np.ndarray
    white_noise: np.ndarray  # unit variance, independent per voxel
    _slab_spectra: dict = field(default_factory=dict, init=False, repr=False)


def white_noise(seed: np.random.SeedSequence, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-variance float32 white noise, drawn in fixed z chunks on two threads.

    Each chunk has its own generator spawned from ``seed``, so the result does not depend
    on the number of threads; numpy releases the GIL while filling, which halves the time.
    """
    noise = np.empty(shape, np.float32)
    chunks = np.array_split(np.arange(shape[0]), NOISE_CHUNKS)
    generators = [np.random.default_rng(s) for s in seed.spawn(NOISE_CHUNKS)]

    def fill(i: int) -> None:
        rows = chunks[i]
        if len(rows):
            generators[i].standard_normal(out=noise[rows[0] : rows[-1] + 1], dtype=np.float32)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(fill, range(NOISE_CHUNKS)))
    return noise


def ssp_weights(fine_z_mm: np.ndarray, centres_mm: np.ndarray, fwhm_mm: float) -> np.ndarray:
    """(slices, fine z) Gaussian slice sensitivity profiles on the fine grid, rows summing to 1."""
    offsets = (fine_z_mm[None, :] - np.asarray(centres_mm)[:, None]) / ssp_sigma_mm(fwhm_mm)
    weights = np.where(np.abs(offsets) <= SSP_TRUNCATION_SD, np.exp(-0.5 * offsets**2), 0.0)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _radial_frequency(size: int, spacing_mm: float, half: bool) -> np.ndarray:
    """|f| (lp/mm) on the DFT grid, in ``rfft2`` layout when ``half``."""
    fx = (scipy.fft.rfftfreq if half else scipy.fft.fftfreq)(size, spacing_mm)
    fy = scipy.fft.fftfreq(size, spacing_mm)
    return np.hypot(fy[:, None], fx[None, :])


def noise_scale(spec: KernelSpec, geometry: VolumeGeometry) -> float:
    """Factor on ``sqrt(f) MTF(f)``-filtered unit white noise giving the 1 mm noise SD."""
    step = geometry.fine_z_step_mm
    fwhm = geometry.ssp_fwhm_mm(NOISE_REFERENCE_THICKNESS_MM)
    reach = int(np.ceil(SSP_TRUNCATION_SD * ssp_sigma_mm(fwhm) / step))
    local_z = (np.arange(-reach, reach + 1) + 0.5) * step
    weights = ssp_weights(local_z, np.array([0.0]), fwhm)[0]
    size = geometry.matrix_size + 2 * IN_PLANE_PAD_PX
    energy = np.mean(
        noise_amplitude(_radial_frequency(size, geometry.pixel_spacing_mm, False), spec) ** 2
    )
    return float(spec.noise_sd_1mm_hu / np.sqrt(np.sum(weights.astype(np.float64) ** 2) * energy))


def _slab_spectra(acquisition: Acquisition, thickness_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """In-plane spectra of the object and of the noise after SSP filtering and slice sampling."""
    if thickness_mm not in acquisition._slab_spectra:
        geometry = acquisition.geometry
        weights = scipy.sparse.csr_array(
            ssp_weights(
                geometry.fine_z_mm(),
                geometry.slice_centres_mm(thickness_mm),
                geometry.ssp_fwhm_mm(thickness_mm),
            )
        )  # banded: each slice sees only the fine samples within its profile
        spectra = []
        for volume in (acquisition.true_hu, acquisition.white_noise):
            slab = (weights @ volume.reshape(volume.shape[0], -1)).reshape(-1, *volume.shape[1:])
            spectra.append(scipy.fft.rfft2(slab, workers=-1))
        acquisition._slab_spectra[thickness_mm] = tuple(spectra)
    return acquisition._slab_spectra[thickness_mm]


def reconstruct_hu(acquisition: Acquisition, spec: KernelSpec, thickness_mm: float) -> np.ndarray:
    """Reconstructed HU (float32; slices, y, x) on the reconstruction matrix."""
    geometry = acquisition.geometry
    object_spectrum, noise_spectrum = _slab_spectra(acquisition, thickness_mm)
    size = acquisition.true_hu.shape[-1]
    f = _radial_frequency(size, geometry.pixel_spacing_mm, True)
    transfer = mtf(f, spec).astype(np.float32)
    noise_filter = (noise_scale(spec, geometry) * np.sqrt(f)).astype(np.float32)
    image = scipy.fft.irfft2(
        transfer * (object_spectrum + noise_filter * noise_spectrum), s=(size, size), workers=-1
    )
    inner = slice(IN_PLANE_PAD_PX, IN_PLANE_PAD_PX + geometry.matrix_size)
    return image[:, inner, inner]


def to_int16_hu(volume: np.ndarray) -> np.ndarray:
    """Rounded to whole HU and clipped to the int16 range, as scanners store CT."""
    return np.clip(np.rint(volume), *HU_RANGE).astype(np.int16)
