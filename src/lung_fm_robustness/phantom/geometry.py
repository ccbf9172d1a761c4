"""Where one patient's voxels sit, in LPS millimetres.

Three grids share one placement: the reconstructed matrix (``matrix_size`` squared, slices
``T`` apart), the acquisition grid the true object and the quantum noise live on (the same
pixels plus a rendered margin, so the FFT's wrap-around of the kernel's point spread stays
outside the image) and its fine z grid (``fine_z_step_mm``, reaching far enough beyond the
reconstructed range for the widest slice sensitivity profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Wider than the sharp kernel's point spread (its ringing fades within ~4 pixels).
IN_PLANE_PAD_PX = 8
# Slice sensitivity profiles are truncated at this many standard deviations.
SSP_TRUNCATION_SD = 4.0
FWHM_PER_SD = 2.0 * math.sqrt(2.0 * math.log(2.0))


def ssp_sigma_mm(fwhm_mm: float) -> float:
    """SD of the Gaussian slice sensitivity profile with this FWHM."""
    return fwhm_mm / FWHM_PER_SD


@dataclass(frozen=True)
class VolumeGeometry:
    """Sampling of one patient's acquisition and reconstructions (identity direction)."""

    pixel_spacing_mm: float
    matrix_size: int
    origin_xy_mm: tuple[float, float]  # centre of reconstructed voxel (0, 0)
    z_start_mm: float  # lower edge of the reconstructed z range
    z_extent_mm: float
    fine_z_step_mm: float
    # (thickness, SSP FWHM) in mm of the configured reconstructions; the widest profile
    # sets how far the fine z grid reaches.
    slice_profiles_mm: tuple[tuple[float, float], ...]

    @property
    def fov_mm(self) -> float:
        return self.matrix_size * self.pixel_spacing_mm

    @property
    def widest_ssp_fwhm_mm(self) -> float:
        return max(fwhm for _, fwhm in self.slice_profiles_mm)

    def ssp_fwhm_mm(self, thickness_mm: float) -> float:
        """FWHM of the slice sensitivity profile of ``thickness_mm`` slices.

        As configured for that thickness, else the nominal thickness itself.
        """
        return dict(self.slice_profiles_mm).get(float(thickness_mm), float(thickness_mm))

    @property
    def fine_z_pad(self) -> int:
        """Fine z samples rendered beyond each end of the reconstructed range."""
        reach = SSP_TRUNCATION_SD * ssp_sigma_mm(self.widest_ssp_fwhm_mm)
        return math.ceil(reach / self.fine_z_step_mm) + 1

    def axis_mm(self, axis: int, padded: bool) -> np.ndarray:
        """Voxel-centre coordinates along x (0) or y (1), with or without the margin."""
        pad = IN_PLANE_PAD_PX if padded else 0
        index = np.arange(-pad, self.matrix_size + pad)
        return self.origin_xy_mm[axis] + index * self.pixel_spacing_mm

    def fine_z_mm(self) -> np.ndarray:
        """Centres of the fine z samples of the acquisition grid."""
        n = round(self.z_extent_mm / self.fine_z_step_mm) + 2 * self.fine_z_pad
        return self.z_start_mm + (np.arange(n) - self.fine_z_pad + 0.5) * self.fine_z_step_mm

    def slice_centres_mm(self, thickness_mm: float) -> np.ndarray:
        """Contiguous slices (interval = thickness) covering the reconstructed z range."""
        widest = self.widest_ssp_fwhm_mm
        if not (thickness_mm > 0.0 and self.ssp_fwhm_mm(thickness_mm) <= widest + 1e-9):
            raise ValueError(
                f"slice thickness {thickness_mm} mm: its slice profile (FWHM "
                f"{self.ssp_fwhm_mm(thickness_mm)} mm) is wider than the fine z grid was rendered "
                f"for ({widest} mm)"
            )
        n = math.floor(self.z_extent_mm / thickness_mm + 1e-9)
        return self.z_start_mm + (np.arange(n) + 0.5) * thickness_mm

    def bounds_mm(self) -> np.ndarray:
        """(3, 2) lower/upper physical edges of the reconstructed volume along x, y, z."""
        half = 0.5 * self.pixel_spacing_mm
        x0, y0 = self.origin_xy_mm
        return np.array(
            [
                [x0 - half, x0 - half + self.fov_mm],
                [y0 - half, y0 - half + self.fov_mm],
                [self.z_start_mm, self.z_start_mm + self.z_extent_mm],
            ]
        )


def index_range(coords: np.ndarray, low: float, high: float) -> slice:
    """The slice of sorted ``coords`` lying in ``[low, high]`` (possibly empty)."""
    return slice(int(np.searchsorted(coords, low)), int(np.searchsorted(coords, high, "right")))
