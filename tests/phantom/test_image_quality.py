"""The QA's measurements are right on images with known answers, made without the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from lung_fm_robustness.phantom import image_quality as iq


def _gaussian_edge(pixel_mm: float, size: int, angle_deg: float, blur_sd_mm: float) -> np.ndarray:
    """A step blurred by a Gaussian LSF of ``blur_sd_mm``, area-free point samples."""
    coords = (np.arange(size) - size / 2) * pixel_mm
    angle = math.radians(angle_deg)
    distance = coords[None, :] * math.cos(angle) - coords[:, None] * math.sin(angle)
    return 100.0 + 1000.0 * ndtr(distance / blur_sd_mm)


@pytest.mark.parametrize(("pixel_mm", "blur_sd_mm"), [(0.1, 0.3), (0.1, 0.6), (0.5, 0.8)])
def test_edge_mtf_of_a_gaussian_edge_is_its_gaussian_mtf(pixel_mm, blur_sd_mm):
    image = _gaussian_edge(pixel_mm, 200 if pixel_mm < 0.5 else 60, 5.0, blur_sd_mm)
    f, measured = iq.edge_mtf(image, pixel_mm, max_frequency=1.5)
    expected = np.exp(-2.0 * (math.pi * blur_sd_mm * f) ** 2)
    assert f[0] == 0.0 and f[1] == pytest.approx(iq.MTF_FREQUENCY_STEP)
    np.testing.assert_allclose(measured, expected, atol=0.01)


def test_edge_mtf_does_not_depend_on_edge_direction_or_polarity():
    image = _gaussian_edge(0.1, 200, 4.0, 0.4)
    f, reference = iq.edge_mtf(image, 0.1, 1.0)
    for variant in (image[:, ::-1], image[::-1, :], -image):
        np.testing.assert_allclose(iq.edge_mtf(variant, 0.1, 1.0)[1], reference, atol=2e-3)


def test_edge_mtf_needs_an_edge_that_covers_every_sub_pixel_phase():
    aligned = _gaussian_edge(0.5, 60, 0.0, 0.8)
    with pytest.raises(ValueError, match="ESF bins empty"):
        iq.edge_mtf(aligned, 0.5, 1.0)


def test_falling_crossing_interpolates_after_the_peak():
    f = np.linspace(0.0, 1.0, 11)
    values = np.array([1.0, 1.2, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.05, 0.0, 0.0])
    assert iq.falling_crossing(f, values, 0.5) == pytest.approx(0.45)
    assert iq.falling_crossing(f, values, 1.1) == pytest.approx(0.15)
    assert math.isnan(iq.falling_crossing(f, values, -0.1))


def test_white_noise_has_a_flat_nps_whose_integral_is_the_variance():
    rng = np.random.default_rng(3)
    pixel, sd = 0.7, 20.0
    rois = iq.rois(rng.normal(-870.0, sd, (40, 128, 128)), 64)
    assert rois.shape == (40 * 9, 64, 64)
    assert np.allclose(rois.mean(axis=(1, 2)), 0.0)
    assert iq.noise_sd(rois) == pytest.approx(sd, rel=0.01)
    f, nps = iq.radial_nps(rois, pixel)
    assert f[-1] == pytest.approx(0.5 / pixel, abs=1 / (64 * pixel))
    np.testing.assert_allclose(nps[1:], sd**2 * pixel**2, rtol=0.1)
    two_d = (np.abs(np.fft.fft2(rois)) ** 2).mean(axis=0) * pixel**2 / 64**2
    assert two_d.sum() / (64 * pixel) ** 2 == pytest.approx(iq.noise_sd(rois) ** 2, rel=1e-9)


def test_nps_of_filtered_noise_peaks_where_the_filter_does():
    """White noise through a ring-shaped filter peaking at 0.3 lp/mm."""
    rng = np.random.default_rng(4)
    pixel, size = 0.7, 128
    f = np.hypot(*np.meshgrid(*(np.fft.fftfreq(size, pixel),) * 2))
    amplitude = np.sqrt(f) * np.exp(
        -((f / 0.3) ** 2) / 2
    )  # power f exp(-(f/0.3)^2): peak 0.3/sqrt(2)
    noise = np.fft.ifft2(np.fft.fft2(rng.normal(size=(32, size, size))) * amplitude).real
    f_radial, nps = iq.radial_nps(iq.rois(noise, 64), pixel)
    assert iq.peak_frequency(f_radial, nps) == pytest.approx(0.3 / math.sqrt(2), rel=0.05)


def test_peak_frequency_is_the_vertex_of_a_sampled_parabola():
    f = np.linspace(0.0, 1.0, 21)
    assert iq.peak_frequency(f, 1.0 - (f - 0.33) ** 2) == pytest.approx(0.33)
    assert iq.peak_frequency(f, f) == 1.0  # a maximum at the end is the end


def test_fwhm_of_a_sampled_gaussian():
    x = np.linspace(-5.0, 5.0, 201)
    sd = 0.8
    assert iq.fwhm(x, np.exp(-0.5 * (x / sd) ** 2)) == pytest.approx(
        2 * math.sqrt(2 * math.log(2)) * sd, rel=1e-3
    )
    with pytest.raises(ValueError, match="half its maximum on both sides"):
        iq.fwhm(x, np.exp(-0.5 * ((x - 4.5) / sd) ** 2))
