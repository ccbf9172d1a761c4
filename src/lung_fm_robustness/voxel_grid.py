"""A volume's voxel grid from its header: where a physical point falls, and what it spans.

Seeds are checked against the *voxel centres* (index 0 to n - 1 on every axis): a point
outside them has no neighbourhood to crop, segment or resample around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

INSIDE_TOLERANCE = 1e-3  # voxels


@dataclass(frozen=True)
class VoxelGrid:
    """``size``, ``spacing``, ``origin`` in SimpleITK's (x, y, z) order; ``direction`` 3 x 3."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, header: Any) -> VoxelGrid:
        """The grid of a ``sitk.Image``, a header-read ``sitk.ImageFileReader`` or a DICOM
        ``SeriesHeader``."""
        return cls(
            size=tuple(int(n) for n in header.GetSize()),
            spacing=tuple(float(s) for s in header.GetSpacing()),
            origin=tuple(float(o) for o in header.GetOrigin()),
            direction=tuple(float(d) for d in header.GetDirection()),
        )

    @property
    def _matrix(self) -> np.ndarray:
        return np.array(self.direction).reshape(3, 3) * np.array(self.spacing)

    def continuous_index(self, point) -> np.ndarray:
        """The (x, y, z) continuous voxel index of an LPS point."""
        return np.linalg.solve(self._matrix, np.asarray(point, dtype=float) - self.origin)

    def physical_point(self, index) -> np.ndarray:
        """The LPS point of a (continuous) voxel index."""
        return np.array(self.origin) + self._matrix @ np.asarray(index, dtype=float)

    def contains(self, point) -> bool:
        """Whether an LPS point lies within the voxel centres."""
        index = self.continuous_index(point)
        return bool(
            np.all(index >= -INSIDE_TOLERANCE) and np.all(index <= np.array(self.size) - 1 + INSIDE_TOLERANCE)
        )

    def extent(self) -> np.ndarray:
        """(3, 2) LPS lower and upper bounds of the voxel centres, per axis."""
        corners = np.array(np.meshgrid(*[(0, n - 1) for n in self.size])).reshape(3, -1).T
        points = np.array([self.physical_point(c) for c in corners])
        return np.stack([points.min(axis=0), points.max(axis=0)], axis=1)

    def describe_extent(self) -> str:
        """The extent as "x [a, b], y [c, d], z [e, f] mm (LPS)"."""
        return (
            ", ".join(f"{axis} [{lo:.1f}, {hi:.1f}]" for axis, (lo, hi) in zip("xyz", self.extent()))
            + " mm (LPS)"
        )


def seed_outside_hint(grid: VoxelGrid, point) -> str:
    """Why a seed outside the volume may be there: the usual frame mix-ups, when they fit."""
    x, y, z = (float(c) for c in point)
    if grid.contains((-x, -y, z)):
        return (
            f"The point with x,y negated ({-x:g}, {-y:g}, {z:g}) lies inside: coordinates look "
            "like RAS; negate x and y to get LPS."
        )
    for order, index in (("x, y, z", (x, y, z)), ("z, y, x (numpy order)", (z, y, x))):
        if all(0 <= i <= n - 1 for i, n in zip(index, grid.size)):
            return (
                f"Read as a voxel index ({order}) the point lies inside: coordinates look like "
                "voxel indices; convert them with TransformIndexToPhysicalPoint."
            )
    return "Check that the coordinates are LPS millimetres of this patient's scan."
