"""The 50 mm input cube FMCIB feeds its network, computed region-first.

FMCIB 1.0.0 (``fmcib.preprocessing.get_transforms``) reads the whole scan, scales it to
``v = (HU + 1024) / 3072``, resamples all of it to a 1 mm RAS-aligned grid with MONAI
``Spacingd(pixdim=1, mode="linear", padding_mode="zeros", align_corners=True,
diagonal=True)``, reorients to LPS, crops 50 voxels around the seed, transposes to
(z, y, x) and zero-pads to 50^3. Here the 1 mm grid is worked out analytically and only
the (at most) 50^3 voxels that survive the crop are interpolated, from the few input
slices they need: the same cube for a fraction of the time and memory.

The work splits in two so that a reader can fetch only those slices: ``plan_fm_cube``
needs the scan's header alone (``ScanGeometry``: the 1 mm grid depends on the whole
scan's extent) and says which input voxel box the cube reads; ``FmCubePlan.sample``
interpolates from that box. ``extract_fm_cube`` does both on an image in memory.

``mode="fmcib"`` reproduces MONAI 1.3-1.5, whose resampler normalises coordinates with
``align_corners=False`` but samples with ``align_corners=True``, so content is displaced
by up to ``|spacing - 1| / 2`` mm at the volume faces. ``mode="exact"`` samples the same
grid at its nominal points (MONAI >= 1.6, SimpleITK). Both interpolate trilinearly with
zero padding in ``v``: beyond the outermost voxel centres values blend towards 0
(-1024 HU).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

CUBE_SIZE = 50
RESAMPLING_MODES = ("fmcib", "exact")

_HALF = CUBE_SIZE // 2
_AFFINE_TOL = 1e-3  # monai.data.utils.AFFINE_TOL
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _require_mode(mode: str) -> None:
    if mode not in RESAMPLING_MODES:
        raise ValueError(f"fm.resampling must be one of {RESAMPLING_MODES}, got {mode!r}")


def other_resampling(mode: str) -> str:
    """The ``fm.resampling`` mode that is not ``mode`` (for the sensitivity comparison)."""
    _require_mode(mode)
    return next(other for other in RESAMPLING_MODES if other != mode)


class SeedOutsideVolumeError(ValueError):
    """The seed is so far outside the scan that the reference crop would be empty."""


@dataclass(frozen=True)
class ScanGeometry:
    """The whole scan's voxel grid, from its header: all the cube needs besides voxels.

    ``size``, ``spacing`` and ``origin`` in SimpleITK's axis order (x, y, z);
    ``direction`` the 3 x 3 direction cosines, row-major, as SimpleITK gives them.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, header: sitk.Image | sitk.ImageFileReader) -> ScanGeometry:
        """The geometry of an image, or of a file whose reader has read only its header
        (``ImageFileReader.ReadImageInformation``); both must be scalar 3D."""
        if isinstance(header, sitk.ImageFileReader):
            components = header.GetNumberOfComponents()
        else:
            components = header.GetNumberOfComponentsPerPixel()
        if header.GetDimension() != 3 or components != 1:
            raise ValueError(
                f"expected a scalar 3D image, got {header.GetDimension()}D with "
                f"{components} components per voxel"
            )
        return cls(
            size=tuple(int(n) for n in header.GetSize()),
            spacing=tuple(float(s) for s in header.GetSpacing()),
            origin=tuple(float(o) for o in header.GetOrigin()),
            direction=tuple(float(d) for d in header.GetDirection()),
        )

    def physical_point(self, index) -> np.ndarray:
        """LPS mm of a continuous voxel index (x, y, z)."""
        direction = np.array(self.direction).reshape(3, 3)
        return np.array(self.origin) + direction @ (np.array(self.spacing) * np.asarray(index))


@dataclass(frozen=True)
class VoxelBox:
    """Input voxels ``[start, start + size)`` per axis, in SimpleITK's order (x, y, z):
    what ``ImageFileReader.SetExtractIndex`` / ``SetExtractSize`` take."""

    start: tuple[int, int, int]
    size: tuple[int, int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as numpy slices of a (z, y, x) array of the whole scan."""
        return tuple(slice(a, a + n) for a, n in zip(self.start[::-1], self.size[::-1]))


def hu_to_fmcib_intensity(hu: np.ndarray) -> np.ndarray:
    """``(HU + 1024) / 3072`` in float32, unclipped, as MONAI's NormalizeIntensityd computes it.

    The reference reads the scan as float32 first, so the input is cast before the
    arithmetic; both steps then round exactly as torch's float32 ops do.
    """
    hu32 = np.asarray(hu, dtype=np.float32)
    return (hu32 + np.float32(1024.0)) / np.float32(3072.0)


@dataclass(frozen=True)
class _Grid:
    """The 1 mm grid MONAI's Spacingd produces, before reorientation to LPS.

    ``affine`` is the RAS affine MONAI records (not the one it aimed for: the crop centre's
    ``int()`` truncation sees the last bit); ``xform`` maps output to input voxel indices;
    ``resampled`` is False where MONAI found the grid unchanged and copied the input.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    xform: np.ndarray
    resampled: bool


def _input_ras_affine(geometry: ScanGeometry) -> np.ndarray:
    """The RAS affine MONAI's ITKReader gives: diag(-1, -1, 1) x [direction * spacing | origin]."""
    affine = np.eye(4)
    direction = np.array(geometry.direction, dtype=float).reshape(3, 3)
    affine[:3, :3] = direction * np.array(geometry.spacing, dtype=float)
    affine[:3, 3] = geometry.origin
    return _LPS_TO_RAS @ affine


def _output_spacing(in_affine: np.ndarray) -> np.ndarray:
    """Spacing's target pixdim: 1 mm, except that an input spacing already within 1e-3 of
    1 mm is kept as is. MONAI compares input *array* axis ``i``'s spacing with output
    *world* axis ``i``, so for permuted directions the kept value crosses axes; reproduced."""
    in_spacing = np.sqrt(np.sum(in_affine[:3, :3] * in_affine[:3, :3], axis=0))
    keep = (1.0 - _AFFINE_TOL <= in_spacing) & (in_spacing <= 1.0 + _AFFINE_TOL)
    return np.where(keep, in_spacing, 1.0)


def _shape_and_origin(
    in_shape: np.ndarray, in_affine: np.ndarray, zoom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``monai.data.utils.compute_shape_offset`` (scale_extent=False), same float ops.

    Size per axis: ``round(extent of voxel centres + 1)`` (numpy half-to-even). Origin: the
    input voxel-centre corner smallest on all axes (to 1e-8), else (oblique input) the
    input point at index ``shape / 2`` minus half the output extent.
    """
    shape = np.asarray(in_shape, dtype=float)
    corners = np.asarray(np.meshgrid(*[(0.0, d - 1.0) for d in shape], indexing="ij")).reshape(
        (3, -1)
    )
    corners = np.concatenate((corners, np.ones_like(corners[:1])))
    corners_out = np.linalg.solve(zoom, in_affine) @ corners
    corners_world = in_affine @ corners
    distances = corners_out[:-1].copy()
    out_shape = np.round(np.ptp(corners_out[:-1] / corners_out[-1], axis=1) + 1.0)
    for i in range(corners.shape[1]):
        if np.allclose(np.min(distances - distances[:, i : i + 1], 1), 0.0, rtol=_AFFINE_TOL):
            return out_shape.astype(int), corners_world[:-1, i]
    origin = (
        in_affine[:-1, :-1] @ (shape / 2.0)
        + in_affine[:-1, -1]
        - zoom[:-1, :-1] @ (out_shape / 2.0)
    )
    return out_shape.astype(int), origin


def _torch_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` summed left to right without fused multiply-add, as torch's CPU matmul
    does for MONAI's recorded affine (numpy's BLAS rounds differently)."""
    out = a[:, :1] * b[:1, :]
    for k in range(1, a.shape[1]):
        out = out + a[:, k : k + 1] * b[k : k + 1, :]
    return out


def _resampled_grid(geometry: ScanGeometry) -> _Grid:
    """The output grid of MONAI's Spacing, including its 'affine unchanged' shortcut."""
    in_affine = _input_ras_affine(geometry)
    in_shape = np.array(geometry.size)
    zoom = np.diag(np.append(_output_spacing(in_affine), 1.0))
    out_shape, origin = _shape_and_origin(in_shape, in_affine, zoom)
    out_affine = zoom.copy()
    out_affine[:3, 3] = origin
    xform = np.linalg.solve(in_affine, out_affine)
    same_size = np.array_equal(out_shape, in_shape)
    if same_size and (
        np.allclose(in_affine, out_affine, atol=_AFFINE_TOL)
        or np.allclose(xform, np.eye(4), atol=_AFFINE_TOL)
    ):
        return _Grid(in_affine, tuple(in_shape.tolist()), np.eye(4), resampled=False)
    return _Grid(_torch_matmul(in_affine, xform), tuple(out_shape.tolist()), xform, resampled=True)


def _lps_flip(shape: tuple[int, int, int]) -> np.ndarray:
    """Orientationd("LPS") on a RAS-aligned grid: flip array axes 0 and 1 (nibabel's
    ``inv_ornt_aff``), so LPS index ``j`` is RAS index ``n - 1 - j`` on those axes."""
    return np.array(
        [
            [-1.0, 0.0, 0.0, shape[0] - 1.0],
            [0.0, -1.0, 0.0, shape[1] - 1.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def _lps_extent(geometry: ScanGeometry) -> list[tuple[float, float]]:
    """Per LPS axis, the span of the voxel centres in mm (for error messages)."""
    points = np.array(
        [
            geometry.physical_point(corner)
            for corner in itertools.product(*[(0, n - 1) for n in geometry.size])
        ]
    )
    return list(zip(points.min(axis=0).tolist(), points.max(axis=0).tolist()))


def _crop_bounds(
    geometry: ScanGeometry, grid: _Grid, seed_lps: tuple[float, float, float]
) -> list[tuple[int, int]]:
    """Per LPS-oriented axis, the reference's clamped crop ``[c - 25, c + 25) & [0, n)``
    with ``c = int(index of the seed)``, in the reference's float ops.

    Raises SeedOutsideVolumeError exactly where the reference's assertion fails: an empty
    crop on some axis, i.e. ``c <= -25`` or ``c >= n + 25``.
    """
    x, y, z = (float(c) for c in seed_lps)
    affine = grid.affine @ _lps_flip(grid.shape)
    centre = np.linalg.inv(affine) @ np.array((-x, -y, z, 1.0))
    bounds = []
    for c, n in zip((int(v) for v in centre[:3]), grid.shape):
        bounds.append((max(c - _HALF, 0), min(c + _HALF, n)))
    if any(lo >= hi for lo, hi in bounds):
        extent = ", ".join(
            f"{a} [{lo:.1f}, {hi:.1f}]" for a, (lo, hi) in zip("LPS", _lps_extent(geometry))
        )
        raise SeedOutsideVolumeError(
            f"Seed {tuple(seed_lps)} (LPS mm) is too far outside the scan for a "
            f"{CUBE_SIZE} mm cube; its voxel centres span {extent} mm. Seeds must be "
            "physical LPS millimetres (as SimpleITK's TransformIndexToPhysicalPoint gives): "
            "RAS coordinates (x and y negated) or voxel indices land here."
        )
    return bounds


def _monai_sample_index(index: np.ndarray, n: int) -> np.ndarray:
    """MONAI 1.3-1.5's resampler: input index ``i'`` (align_corners=False normalisation)
    is read back as ``(2 i' + 1)(n - 1) / (2 n)`` (align_corners=True sampling)."""
    return (2.0 * index + 1.0) * (n - 1) / (2.0 * n)


def _monai_grid_index(k: np.ndarray, m: int) -> np.ndarray:
    """Output index ``k`` as MONAI 1.3-1.5 feeds it to the voxel transform: ``k m/(m-1) - 1/2``
    (torch's ``affine_grid`` puts a size-1 axis at the centre, i.e. index 0)."""
    if m == 1:
        return np.zeros_like(k, dtype=float)
    return k * (m / (m - 1.0)) - 0.5


def _sample_indices(
    grid: _Grid, in_size: tuple[int, ...], bounds, displaced: bool
) -> list[np.ndarray]:
    """Continuous input indices (sitk axis order x, y, z) of the cropped output voxels,
    each shaped (z, y, x) like the cube."""
    (x0, x1), (y0, y1), (z0, z1) = bounds
    m = grid.shape
    ks = [
        (m[0] - 1 - np.arange(x0, x1, dtype=float))[None, None, :],
        (m[1] - 1 - np.arange(y0, y1, dtype=float))[None, :, None],
        np.arange(z0, z1, dtype=float)[:, None, None],
    ]
    displaced = displaced and grid.resampled
    if displaced:
        ks = [_monai_grid_index(k, n) for k, n in zip(ks, m)]
    xf = grid.xform
    index = [xf[e, 0] * ks[0] + xf[e, 1] * ks[1] + xf[e, 2] * ks[2] + xf[e, 3] for e in range(3)]
    if displaced:
        index = [_monai_sample_index(i, n) for i, n in zip(index, in_size)]
    return index


def _input_box(index: list[np.ndarray], size: tuple[int, int, int]) -> VoxelBox | None:
    """The input voxels trilinear interpolation at ``index`` reads (both neighbours of every
    sample, clamped to the scan); None when every sample falls in the zero padding."""
    base = [np.floor(i) for i in index]
    lo = [max(int(b.min()), 0) for b in base]
    hi = [min(int(b.max()) + 1, n - 1) for b, n in zip(base, size)]
    if any(a > b for a, b in zip(lo, hi)):
        return None
    return VoxelBox(tuple(lo), tuple(b - a + 1 for a, b in zip(lo, hi)))


def _trilinear_zero_padded(
    hu: np.ndarray, box: VoxelBox, index: list[np.ndarray]
) -> np.ndarray:
    """Trilinear interpolation of ``v`` at continuous indices, neighbours outside the scan
    counting as v = 0 (torch ``grid_sample`` padding_mode="zeros"). ``hu`` is the scan's
    voxels in ``box`` only, scaled to ``v`` before interpolating so the padding stays 0."""
    values = np.pad(hu_to_fmcib_intensity(hu), 1)  # (z, y, x), zero shell
    base = [np.floor(i).astype(np.intp) for i in index]
    frac = [i - b for i, b in zip(index, base)]
    out = np.zeros(index[0].shape, dtype=float)
    for corner in itertools.product((0, 1), repeat=3):
        weight = np.ones_like(out)
        pos = []
        for e, c in enumerate(corner):
            weight = weight * (frac[e] if c else 1.0 - frac[e])
            pos.append(np.clip(base[e] + c - box.start[e] + 1, 0, values.shape[2 - e] - 1))
        out += weight * values[pos[2], pos[1], pos[0]]
    return out.astype(np.float32)


def _pad_to_cube(region: np.ndarray) -> np.ndarray:
    """SpatialPad to 50^3 with 0: ``d // 2`` before, the rest after, whichever side was
    clamped (so a nodule at the scan's edge ends up off-centre, as in the reference)."""
    cube = np.zeros((CUBE_SIZE,) * 3, dtype=np.float32)
    start = [(CUBE_SIZE - d) // 2 for d in region.shape]
    cube[tuple(slice(s, s + d) for s, d in zip(start, region.shape))] = region
    return cube


@dataclass(frozen=True, eq=False)
class FmCubePlan:
    """Where a cube samples its scan, worked out from the header: ``box`` is the only part
    of the scan to read (None: the cube lies in the zero padding), ``index`` the continuous
    input index (x, y, z) of every kept sample, ``sample`` makes the cube."""

    box: VoxelBox | None
    index: list[np.ndarray] = field(repr=False)

    def sample(self, hu: np.ndarray | None) -> np.ndarray:
        """The (50, 50, 50) float32 cube (z, y, x) from the scan's HU in ``box``, a (z, y, x)
        array of shape ``box.size[::-1]`` (None when ``box`` is None)."""
        if self.box is None:
            return _pad_to_cube(np.zeros(self.index[0].shape, dtype=np.float32))
        if hu is None or np.shape(hu) != self.box.size[::-1]:
            raise ValueError(
                f"expected the scan's voxels in {self.box} as a (z, y, x) array of shape "
                f"{self.box.size[::-1]}, got {None if hu is None else np.shape(hu)}"
            )
        return _pad_to_cube(_trilinear_zero_padded(hu, self.box, self.index))


def plan_fm_cube(
    geometry: ScanGeometry, seed_lps: tuple[float, float, float], mode: str = "fmcib"
) -> FmCubePlan:
    """Which voxels of the scan the FMCIB cube at ``seed_lps`` reads, and how.

    ``geometry`` is the *whole* scan's (the 1 mm grid spans its full extent), even when
    only the box will be read. ``seed_lps`` and ``mode`` as in ``extract_fm_cube``.
    """
    _require_mode(mode)
    if len(seed_lps) != 3 or not np.all(np.isfinite(np.asarray(seed_lps, dtype=float))):
        raise ValueError(f"seed_lps must be three finite LPS coordinates in mm, got {seed_lps!r}")
    grid = _resampled_grid(geometry)
    bounds = _crop_bounds(geometry, grid, seed_lps)
    index = _sample_indices(grid, geometry.size, bounds, displaced=mode == "fmcib")
    return FmCubePlan(_input_box(index, geometry.size), index)


def extract_fm_cube(
    image: sitk.Image, seed_lps: tuple[float, float, float], mode: str = "fmcib"
) -> np.ndarray:
    """(50, 50, 50) float32 array in (z, y, x) order = what FMCIB feeds the network (no channel dim).

    ``image`` holds HU with any direction, origin and spacing; ``seed_lps`` is the nodule
    centre in LPS mm. ``mode`` is the ``fm.resampling`` setting: "fmcib" (MONAI 1.3-1.5,
    with their sampling displacement, as the released features were computed) or "exact"
    (nominal grid points).
    """
    plan = plan_fm_cube(ScanGeometry.of(image), seed_lps, mode)
    if plan.box is None:
        return plan.sample(None)
    return plan.sample(sitk.GetArrayViewFromImage(image)[plan.box.slices])
