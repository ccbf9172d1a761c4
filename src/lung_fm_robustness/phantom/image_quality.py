"""Image-quality measurements from reconstructed images, made as a CT physicist makes them.

Nothing here knows how the images were simulated: the MTF comes from a slanted edge
(edge spread function oversampled along the edge normal, differentiated into the line
spread function, Fourier transformed; ISO 12233 / IEC 62220-1 style), the noise SD and
the noise power spectrum from many ROIs of a uniform region (2-D NPS, radially averaged),
and widths from the half-maximum crossings of a sampled profile.
"""

from __future__ import annotations

import numpy as np

ESF_OVERSAMPLING = 4  # ESF bins per pixel
ESF_HALF_WIDTH_MM = 8.0  # ESF range either side of the edge: beyond every kernel's LSF
EDGE_WINDOW_MM = 5.0  # a row's edge position is the LSF centroid within this window
MTF_FREQUENCY_STEP = 0.01  # lp/mm, by zero-padding the LSF
PEAK_FIT_FRACTION = 0.8  # the NPS peak is the vertex of a parabola through bins above this


def edge_mtf(
    image: np.ndarray, pixel_mm: float, max_frequency: float
) -> tuple[np.ndarray, np.ndarray]:
    """MTF (frequency in lp/mm, MTF) of a near-vertical edge in a 2-D image ``(y, x)``.

    The edge line is fitted to the LSF centroid of every row; each pixel's distance to it
    bins the ESF at ``pixel / ESF_OVERSAMPLING``; the MTF is ``|FFT(dESF)|`` normalised
    at zero frequency and corrected for the finite difference.
    """
    values = np.asarray(image, np.float64)
    x = np.arange(values.shape[1]) * pixel_mm
    y = np.arange(values.shape[0]) * pixel_mm
    slope = np.abs(np.diff(values, axis=1))
    between = 0.5 * (x[1:] + x[:-1])
    strongest = between[np.argmax(slope, axis=1)]
    weights = np.where(np.abs(between[None, :] - strongest[:, None]) <= EDGE_WINDOW_MM, slope, 0)
    centroids = (weights * between).sum(axis=1) / weights.sum(axis=1)
    tilt, offset = np.polyfit(y, centroids, 1)
    distance = (x[None, :] - offset - tilt * y[:, None]) / np.hypot(1.0, tilt)

    width = pixel_mm / ESF_OVERSAMPLING
    n_bins = int(round(2 * ESF_HALF_WIDTH_MM / width))
    index = np.floor((distance.ravel() + ESF_HALF_WIDTH_MM) / width).astype(int)
    used = (index >= 0) & (index < n_bins)
    counts = np.bincount(index[used], minlength=n_bins)
    if not counts.all():
        raise ValueError(
            "the edge ROI leaves ESF bins empty: tilt the edge more or give it more rows"
        )
    esf = np.bincount(index[used], values.ravel()[used], minlength=n_bins) / counts
    lsf = np.diff(esf)

    n_fft = int(round(1.0 / (width * MTF_FREQUENCY_STEP)))
    if n_fft < lsf.size:
        raise ValueError("MTF_FREQUENCY_STEP is too coarse for the LSF length")
    spectrum = np.abs(np.fft.rfft(lsf, n_fft))
    f = np.fft.rfftfreq(n_fft, width)
    keep = f <= max_frequency + 1e-9
    f = f[keep]
    return f, spectrum[keep] / spectrum[0] / np.sinc(f * width)


def falling_crossing(f: np.ndarray, values: np.ndarray, level: float) -> float:
    """First frequency after the maximum where ``values`` falls to ``level`` (NaN if never).

    Linear interpolation between the samples either side.
    """
    start = int(np.argmax(values))
    below = np.flatnonzero(values[start:] < level)
    if not below.size or below[0] == 0:
        return float("nan")
    j = start + int(below[0])
    return float(np.interp(level, [values[j], values[j - 1]], [f[j], f[j - 1]]))


def rois(images: np.ndarray, size: int) -> np.ndarray:
    """Square ``size`` ROIs of every slice of ``(slices, y, x)``, overlapping by half.

    Each ROI has its own mean removed (the uniform object's level and any slow trend).
    """
    step = max(size // 2, 1)
    starts_y = range(0, images.shape[1] - size + 1, step)
    starts_x = range(0, images.shape[2] - size + 1, step)
    stack = np.stack(
        [images[:, i : i + size, j : j + size] for i in starts_y for j in starts_x], axis=1
    ).reshape(-1, size, size)
    stack = stack.astype(np.float64)
    return stack - stack.mean(axis=(1, 2), keepdims=True)


def noise_sd(roi_stack: np.ndarray) -> float:
    """Pooled SD (HU) of mean-free ROIs."""
    return float(np.sqrt(np.mean(roi_stack**2)))


def radial_nps(roi_stack: np.ndarray, pixel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged 2-D noise power spectrum (lp/mm; HU^2 mm^2) up to the Nyquist frequency.

    ``NPS(fx, fy) = dx dy / (Nx Ny) <|DFT(ROI)|^2>``, whose integral is the noise variance;
    rings are one frequency step (``1 / (N dx)``) wide, centred on its multiples.
    """
    size = roi_stack.shape[-1]
    nps = (np.abs(np.fft.fft2(roi_stack)) ** 2).mean(axis=0) * pixel_mm**2 / size**2
    f = np.fft.fftfreq(size, pixel_mm)
    step = 1.0 / (size * pixel_mm)
    ring = np.rint(np.hypot(f[:, None], f[None, :]) / step).astype(int).ravel()
    radial = np.bincount(ring, nps.ravel()) / np.bincount(ring)
    centres = np.arange(radial.size) * step
    keep = centres <= 0.5 / pixel_mm + 1e-9
    return centres[keep], radial[keep]


def peak_frequency(f: np.ndarray, values: np.ndarray) -> float:
    """Frequency of a broad maximum: vertex of a parabola through the bins around it.

    The bins are the contiguous run above ``PEAK_FIT_FRACTION`` of the maximum (at least
    three), which averages out the scatter of single bins.
    """
    i = int(np.argmax(values))
    if i == 0 or i == len(values) - 1:
        return float(f[i])
    low = high = i
    while low > 0 and values[low - 1] >= PEAK_FIT_FRACTION * values[i]:
        low -= 1
    while high < len(values) - 1 and values[high + 1] >= PEAK_FIT_FRACTION * values[i]:
        high += 1
    low, high = min(low, i - 1), max(high, i + 1)
    a, b, _ = np.polyfit(f[low : high + 1], values[low : high + 1], 2)
    return float(-b / (2 * a))


def fwhm(x: np.ndarray, profile: np.ndarray) -> float:
    """Full width at half maximum of a single-peaked profile sampled at ``x``.

    Half-maximum crossings are interpolated linearly; the profile must fall below half its
    maximum on both sides.
    """
    half = profile.max() / 2
    above = np.flatnonzero(profile >= half)
    low, high = above[0], above[-1]
    if low == 0 or high == len(profile) - 1:
        raise ValueError("the profile does not fall to half its maximum on both sides")
    left = np.interp(half, profile[[low - 1, low]], x[[low - 1, low]])
    right = np.interp(half, profile[[high + 1, high]], x[[high + 1, high]])
    return float(right - left)
