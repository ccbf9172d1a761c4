"""Tests of the region-first FMCIB input cube against two whole-volume oracles.

- fmcib oracle: MONAI 1.5's own transforms on the whole volume, as FMCIB 1.0.0 chains
  them, then the reference's crop, transpose and pad (fm/monai_reference.py).
- exact oracle: SimpleITK's own linear resampler onto the same 1 mm LPS grid.

Tolerance is 1e-5 in v = (HU + 1024) / 3072 (float32 rounding is ~6e-8).
"""

from __future__ import annotations

import functools
import locale

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from lung_fm_robustness.datasets.ct_volume import read_volume, read_volume_header, read_volume_region
from lung_fm_robustness.fm.cube import (
    CUBE_SIZE,
    RESAMPLING_MODES,
    ScanGeometry,
    SeedOutsideVolumeError,
    extract_fm_cube,
    hu_to_fmcib_intensity,
    other_resampling,
    plan_fm_cube,
)
from lung_fm_robustness.fm.monai_reference import monai_volume, reference_crop
from lung_fm_robustness.fm.network import extract_features, load_fm_extractor

pytestmark = pytest.mark.filterwarnings("ignore:.*Orientationd.__init__.labels:FutureWarning")

TOL = 1e-5


def _rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


IDENTITY = np.eye(3)
FLIPPED = np.diag([-1.0, 1.0, -1.0])
PERMUTED = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # x->P, y->S, z->L
CORONAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # z runs anterior
RAS_STORED = np.diag([-1.0, -1.0, 1.0])  # a NIfTI written in RAS order
OBLIQUE = _rotation(2, 15.0) @ _rotation(0, -12.0)
OBLIQUE_PERMUTED = _rotation(1, 18.0) @ PERMUTED


# ----------------------------------------------------------------------------- volumes


def _make_volume(size, spacing, origin, direction, seed: int = 0) -> sitk.Image:
    """int16 HU in [-1000, 400]: smooth waves + voxel noise + a few uniform blobs."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n, dtype=float) for n in size[::-1]], indexing="ij")
    hu = -300.0 + 350.0 * np.sin(x / 5.3 + 0.4) * np.cos(y / 7.1) + 200.0 * np.sin(z / 3.7 + 1.0)
    hu += rng.uniform(-250.0, 250.0, hu.shape)
    for _ in range(4):
        c = rng.uniform(0, 1, 3) * (np.array(size) - 1)
        r = rng.uniform(2.0, 6.0)
        hu[(x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 0.5) ** 2 < r**2] = rng.uniform(
            -100.0, 400.0
        )
    image = sitk.GetImageFromArray(np.clip(np.round(hu), -1000, 400).astype(np.int16))
    _set_geometry(image, spacing, origin, direction)
    return image


def _set_geometry(image: sitk.Image, spacing, origin, direction) -> None:
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in origin])
    image.SetDirection(np.asarray(direction, dtype=float).ravel().tolist())


def _seed_at(image: sitk.Image, relative) -> tuple[float, float, float]:
    """LPS point at continuous index ``relative * (size - 1)``."""
    index = [f * (n - 1) for f, n in zip(relative, image.GetSize())]
    return image.TransformContinuousIndexToPhysicalPoint(index)


# ----------------------------------------------------------------------------- oracles


@functools.lru_cache(maxsize=None)
def _monai_volume(key) -> tuple[np.ndarray, np.ndarray]:
    """MONAI 1.5's whole-volume chain: (LPS-oriented v volume, (x, y, z) order; RAS affine)."""
    return monai_volume(_IMAGES[key])


def _fmcib_oracle(key, seed) -> np.ndarray:
    volume, affine = _monai_volume(key)
    return reference_crop(volume, affine, seed)


@functools.lru_cache(maxsize=None)
def _sitk_volume(key) -> np.ndarray:
    """SimpleITK linear resampling of the HU image onto MONAI's LPS-oriented 1 mm grid.

    sitk's linear interpolator returns the default value outside the image instead of
    blending with it, whereas zero-padded trilinear blends towards v = 0 (-1024 HU)
    between the outermost voxel centres and one voxel beyond. Padding the input with one
    voxel of -1024 HU on every side makes sitk blend exactly like that; further out both
    give -1024 HU.
    """
    image = _IMAGES[key]
    volume, affine = _monai_volume(key)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    padded = sitk.ConstantPad(image, (1, 1, 1), (1, 1, 1), -1024.0)
    out = sitk.Resample(
        padded,
        [int(n) for n in volume.shape],
        sitk.Transform(),
        sitk.sitkLinear,
        lps[:3, 3].tolist(),
        spacing.tolist(),
        (lps[:3, :3] / spacing).ravel().tolist(),
        -1024.0,
        sitk.sitkFloat64,
    )
    return (sitk.GetArrayFromImage(out).transpose(2, 1, 0) + 1024.0) / 3072.0


def _exact_oracle(key, seed) -> np.ndarray:
    return reference_crop(_sitk_volume(key), _monai_volume(key)[1], seed)


# ----------------------------------------------------------------------------- cases

# name: (size xyz, spacing, origin, direction)
_VOLUMES = {
    "a07_identity": ((72, 64, 31), (0.7, 0.7, 2.0), (-25.3, 40.7, -312.4), IDENTITY),
    "a06_flipped": ((80, 75, 50), (0.6, 0.6, 1.0), (12.2, -7.9, 100.35), FLIPPED),
    "a057_thick": ((70, 66, 13), (0.57, 0.57, 5.0), (-180.13, -170.9, -240.0), IDENTITY),
    "a07_permuted": ((71, 64, 30), (0.7, 0.7, 2.0), (3.3, -120.1, 55.55), PERMUTED),
    "a06_coronal": ((75, 60, 70), (0.6, 0.6, 1.0), (-44.4, 10.0, -20.7), CORONAL),
    "a07_oblique": ((70, 69, 30), (0.7, 0.7, 2.0), (-10.0, 20.5, -30.25), OBLIQUE),
    "a057_oblique_permuted": ((66, 65, 12), (0.57, 0.57, 5.0), (5.5, -6.6, 7.7), OBLIQUE_PERMUTED),
    "short_z_30mm": ((72, 70, 16), (0.7, 0.7, 2.0), (-200.35, -150.15, -80.0), IDENTITY),
    "short_z_30mm_1mm": ((61, 60, 31), (0.8, 0.8, 1.0), (1.1, 2.2, 3.3), FLIPPED),
    # two slices 0.3 mm apart: a 1-voxel output axis, which affine_grid samples at its centre
    "thin_slab": ((40, 38, 2), (0.7, 0.7, 0.3), (7.0, -8.0, 9.0), FLIPPED),
    # input axis 1 keeps its 1.0005 mm spacing, which MONAI then applies to world axis y
    "near_unit_spacing_permuted": ((70, 40, 28), (0.7, 1.0005, 2.0), (0.0, 0.0, 0.0), PERMUTED),
    # grid within MONAI's 1e-3 tolerance of the input: Spacingd copies the input unchanged
    "ras_stored_shortcut": ((60, 61, 62), (1.0004, 0.9998, 1.0), (30.2, 40.6, -10.0),
                            RAS_STORED @ _rotation(2, 5e-4)),
}  # fmt: skip
_IMAGES = {name: _make_volume(*spec, seed=i) for i, (name, spec) in enumerate(_VOLUMES.items())}

# (volume, relative seed index); 0 and 1 are the outermost voxel centres
_CASES = [
    ("a07_identity", (0.5, 0.5, 0.5)),
    ("a06_flipped", (0.37, 0.61, 0.45)),
    ("a057_thick", (0.5, 0.45, 0.5)),
    ("a07_permuted", (0.0, 0.5, 0.5)),  # six faces, various directions
    ("a07_permuted", (1.0, 0.4, 0.55)),
    ("a07_oblique", (0.45, 0.02, 0.5)),
    ("a07_oblique", (0.5, 0.97, 0.4)),
    ("a06_coronal", (0.5, 0.5, 0.0)),
    ("a06_coronal", (0.55, 0.5, 1.0)),
    ("a057_thick", (0.3, 0.8, 0.0)),
    ("a057_thick", (0.6, 0.1, 1.0)),
    ("a057_oblique_permuted", (0.5, 0.5, 0.5)),
    ("a057_oblique_permuted", (0.9, 0.2, 0.95)),
    ("short_z_30mm", (0.5, 0.5, 0.5)),
    ("short_z_30mm_1mm", (0.2, 0.7, 0.33)),
    ("a07_identity", (-0.1, 1.08, 1.1)),  # just outside, crop still non-empty
    ("a06_flipped", (1.12, -0.15, -0.2)),
    ("near_unit_spacing_permuted", (0.5, 0.5, 0.5)),
    ("thin_slab", (0.3, 0.6, 0.0)),
    ("ras_stored_shortcut", (0.4, 0.5, 0.6)),
    ("ras_stored_shortcut", (0.0, 1.0, 0.9)),
]
# seeds at voxel centres: on 1/2/5 mm slices the crop centre is then a whole number, and
# int() sees the last bit of MONAI's float arithmetic
_VOXEL_CENTRE_CASES = [
    ("a07_identity", (36, 20, 15)),
    ("a06_flipped", (40, 30, 25)),
    ("a057_thick", (35, 33, 6)),
    ("a07_permuted", (10, 32, 29)),
    ("a06_coronal", (30, 20, 35)),
    ("short_z_30mm", (50, 35, 8)),
    ("short_z_30mm_1mm", (30, 30, 0)),
]


def _case_ids():
    for name, rel in _CASES:
        yield pytest.param(name, _seed_at(_IMAGES[name], rel), id=f"{name}@{rel}")
    for name, index in _VOXEL_CENTRE_CASES:
        yield pytest.param(
            name, _IMAGES[name].TransformIndexToPhysicalPoint(index), id=f"{name}@voxel{index}"
        )


CASES = list(_case_ids())


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_fmcib_mode_matches_monai_chain(name, seed):
    expected = _fmcib_oracle(name, seed)
    got = extract_fm_cube(_IMAGES[name], seed, mode="fmcib")
    assert got.shape == (CUBE_SIZE,) * 3 and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_exact_mode_matches_simpleitk(name, seed):
    expected = _exact_oracle(name, seed)
    got = extract_fm_cube(_IMAGES[name], seed, mode="exact")
    assert got.shape == (CUBE_SIZE,) * 3 and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize(
    "name", ["a07_oblique", "a057_oblique_permuted", "a06_flipped", "ras_stored_shortcut"]
)
def test_seeds_on_grid_points_truncate_like_monai(name):
    """A seed exactly on a 1 mm grid point (say, found on the resampled volume) puts int()
    on a knife edge: the crop centre then depends on the last bit of the affine MONAI
    records after Spacingd, which must be reproduced bit for bit."""
    volume, affine = _monai_volume(name)
    for j in np.random.default_rng(0).integers(0, volume.shape, size=(16, 3)):
        ras = affine @ np.append(j, 1.0)
        seed = (-ras[0], -ras[1], ras[2])
        for mode, oracle in (("fmcib", _fmcib_oracle), ("exact", _exact_oracle)):
            got = extract_fm_cube(_IMAGES[name], seed, mode=mode)
            np.testing.assert_allclose(got, oracle(name, seed), rtol=0, atol=TOL)


def test_edge_nodule_is_padded_symmetrically_off_centre():
    """Clamped on one side, the 25-voxel crop is centred by the padding, not the nodule."""
    image = _IMAGES["a07_permuted"]
    cube = extract_fm_cube(image, _seed_at(image, (0.0, 0.5, 0.5)))
    filled = np.argwhere(cube != 0)
    lo, hi = filled.min(axis=0), filled.max(axis=0) + 1
    short = np.argmin(hi - lo)
    d = hi[short] - lo[short]
    assert d < CUBE_SIZE and lo[short] == (CUBE_SIZE - d) // 2


# ----------------------------------------------------------------------------- intensity


def test_intensity_scaling_is_unclipped_float32():
    hu = np.array([-3024, -1024, 0, 2048, 4000], dtype=np.int16)
    v = hu_to_fmcib_intensity(hu)
    assert v.dtype == np.float32
    expected = torch.div(torch.tensor(hu, dtype=torch.float32) - (-1024), 3072).numpy()
    np.testing.assert_array_equal(v, expected)
    np.testing.assert_allclose(v, [-0.6510417, 0.0, 1 / 3, 1.0, 1.6354167], rtol=1e-6)


# ----------------------------------------------------------------------------- file formats


def test_nifti_and_nrrd_copies_give_the_same_cube(tmp_path):
    """NIfTI keeps geometry in float32, NRRD in float64: inputs differ by ~1e-6 mm."""
    image = _IMAGES["a07_oblique"]
    seed = _seed_at(image, (0.43, 0.52, 0.47))
    cubes = {}
    for suffix in (".nii.gz", ".nrrd"):
        path = str(tmp_path / f"scan{suffix}")
        sitk.WriteImage(image, path)
        cubes[suffix] = sitk.ReadImage(path)
    for mode in ("fmcib", "exact"):
        a, b = (extract_fm_cube(cubes[s], seed, mode=mode) for s in (".nii.gz", ".nrrd"))
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
        np.testing.assert_allclose(b, extract_fm_cube(image, seed, mode=mode), rtol=0, atol=TOL)


def _write_dicom_series(image: sitk.Image, folder) -> None:
    """One int16 CT slice per file; GDCM stores HU + 1024 with RescaleIntercept -1024."""
    uid = "1.2.826.0.1.3680043.2.1125.4242"
    direction = np.array(image.GetDirection()).reshape(3, 3)
    orientation = "\\".join(
        f"{v:.10f}" for v in np.concatenate([direction[:, 0], direction[:, 1]])
    )
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        slice_ = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
            "0008|0018": f"{uid}.3.{k + 1}",
            "0008|0060": "CT",
            "0020|000d": f"{uid}.1",
            "0020|000e": f"{uid}.2",
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": orientation,
            "0018|0050": f"{image.GetSpacing()[2]:.6f}",
            "0028|1052": "-1024",
            "0028|1053": "1",
        }
        for tag, value in tags.items():
            slice_.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(slice_)


@pytest.fixture
def keep_locale():
    """GDCM (SimpleITK's DICOM I/O) switches the process locale to "C"; put it back."""
    saved = locale.setlocale(locale.LC_ALL)
    yield
    locale.setlocale(locale.LC_ALL, saved)


def test_dicom_series_gives_the_same_cube(tmp_path, keep_locale):
    image = _make_volume(
        (64, 60, 24), (0.75, 0.75, 2.5), (-120.25, -80.5, -300.0), CORONAL, seed=99
    )
    _write_dicom_series(image, tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    series = reader.Execute()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(series), sitk.GetArrayFromImage(image))
    seed = _seed_at(image, (0.41, 0.55, 0.63))
    for mode in ("fmcib", "exact"):
        np.testing.assert_allclose(
            extract_fm_cube(series, seed, mode=mode),
            extract_fm_cube(image, seed, mode=mode),
            rtol=0,
            atol=TOL,
        )


# ----------------------------------------------------------------------------- geometry


def _reference_grid(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The 1 mm RAS grid (origin, size) by the reference's stated rules: size round(extent
    + 1); origin the smallest voxel-centre corner, or for oblique input the input point at
    index size / 2 minus half the output extent."""
    size = np.array(image.GetSize(), dtype=float)
    corner_index = np.array(np.meshgrid(*[(0.0, n - 1) for n in size])).reshape(3, -1).T
    corners = np.array(
        [image.TransformContinuousIndexToPhysicalPoint(c) for c in corner_index]
    ) * [-1.0, -1.0, 1.0]
    shape = np.round(corners.max(axis=0) - corners.min(axis=0) + 1.0)
    on_corner = np.any(np.all(np.isclose(corners, corners.min(axis=0), atol=1e-6), axis=1))
    if on_corner:
        return corners.min(axis=0), shape
    middle = np.array(image.TransformContinuousIndexToPhysicalPoint(size / 2.0)) * [
        -1.0,
        -1.0,
        1.0,
    ]
    return middle - shape / 2.0, shape


@pytest.mark.parametrize(
    ("size", "spacing", "direction"),
    [
        ((100, 96, 40), (0.7, 0.7, 2.0), PERMUTED),
        ((110, 100, 80), (0.6, 0.6, 1.0), FLIPPED),
        ((100, 100, 44), (0.7, 0.7, 1.6), OBLIQUE),
    ],
    ids=["permuted", "flipped", "oblique"],
)
def test_seed_lands_at_index_25_plus_truncation_offset(size, spacing, direction):
    """A smooth bright blob at a known LPS point: its centre of mass in the exact cube is at
    25 + frac(c), c the seed's continuous index on the LPS-oriented 1 mm grid, whose int()
    the reference uses as crop centre (the grid is derived here from the stated rules)."""
    origin = np.array([-31.7, 12.9, -150.3])
    to_physical = np.asarray(direction) * spacing  # index (x, y, z) -> LPS offset
    point = origin + to_physical @ ((np.array(size) - 1) * [0.47, 0.52, 0.5]) + [0.31, -0.22, 0.37]
    index = np.stack(
        np.meshgrid(*[np.arange(n, dtype=float) for n in size[::-1]], indexing="ij"), axis=-1
    )
    r2 = np.sum((origin + index[..., ::-1] @ to_physical.T - point) ** 2, axis=-1)  # (z, y, x)
    hu = -900.0 + 1000.0 * np.exp(-r2 / (2 * 2.0**2))  # Gaussian: its samples keep its centre
    image = sitk.GetImageFromArray(hu.astype(np.float32))
    _set_geometry(image, spacing, origin, direction)

    cube = extract_fm_cube(image, tuple(point), mode="exact").astype(float)
    weight = np.clip(cube - hu_to_fmcib_intensity(-900.0), 0.0, None)
    com_zyx = np.array([np.sum(weight * idx) for idx in np.indices(cube.shape)]) / weight.sum()

    origin_ras, shape = _reference_grid(image)
    ras = point * [-1.0, -1.0, 1.0]
    continuous = np.array(
        [
            origin_ras[0] + shape[0] - 1 - ras[0],
            origin_ras[1] + shape[1] - 1 - ras[1],
            ras[2] - origin_ras[2],
        ]
    )  # LPS-oriented index (x, y, z): axes 0 and 1 run against RAS
    expected_xyz = CUBE_SIZE // 2 + continuous - np.trunc(continuous)
    np.testing.assert_allclose(com_zyx[::-1], expected_xyz, atol=0.01)


# ----------------------------------------------------------------------------- errors


def test_far_seed_raises_informative_error():
    image = _IMAGES["a07_identity"]
    seed = (400.0, -350.0, 20.0)
    with pytest.raises(SeedOutsideVolumeError) as info:
        extract_fm_cube(image, seed)
    message = str(info.value)
    assert "(400.0, -350.0, 20.0)" in message and "LPS" in message
    assert "RAS" in message and "voxel indices" in message
    x0, y0, z0 = image.GetOrigin()
    assert (
        f"L [{x0:.1f}, {x0 + 71 * 0.7:.1f}]" in message
        and f"S [{z0:.1f}, {z0 + 30 * 2.0:.1f}]" in message
    )


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("side", [-1, 1])
def test_raises_exactly_where_the_reference_crop_is_empty(axis, side):
    """Around the last non-empty crop (centre index -24 or n + 24) on each axis."""
    name = "a06_flipped"
    image = _IMAGES[name]
    volume, affine = _monai_volume(name)
    n = volume.shape[axis]
    for offset in np.arange(-1.5, 1.6, 0.25):
        index = np.array(volume.shape, dtype=float) / 2
        index[axis] = (-24.5 if side < 0 else n + 24.5) + offset
        ras = affine @ np.append(index, 1.0)
        seed = (-ras[0], -ras[1], ras[2])
        expected = reference_crop(volume, affine, seed)
        if expected is None:
            with pytest.raises(SeedOutsideVolumeError):
                extract_fm_cube(image, seed)
        else:
            np.testing.assert_allclose(extract_fm_cube(image, seed), expected, rtol=0, atol=TOL)


def test_bad_mode_names_the_setting():
    image = _IMAGES["a07_identity"]
    with pytest.raises(ValueError, match=r"fm\.resampling.*'fmcib'.*'exact'.*'nearest'"):
        extract_fm_cube(image, _seed_at(image, (0.5, 0.5, 0.5)), mode="nearest")


# ----------------------------------------------------------------------------- displacement


def test_monai15_displacement_is_real_for_2mm_slices():
    """A sharp HU step across z near the top face moves by ~0.4 mm between the modes."""
    size, spacing = (60, 60, 30), (0.7, 0.7, 2.0)
    hu = np.full(size[::-1], -1000, dtype=np.int16)
    hu[25:] = 400
    image = sitk.GetImageFromArray(hu)
    _set_geometry(image, spacing, (0.0, 0.0, 0.0), IDENTITY)
    seed = _seed_at(image, (0.5, 0.5, 25 / 29))
    diff = np.abs(
        extract_fm_cube(image, seed, mode="fmcib") - extract_fm_cube(image, seed, mode="exact")
    )
    assert diff.max() > 1e-3


@pytest.mark.parametrize("relative", [(0.5, 0.5, 0.5), (0.03, 0.9, 0.98)])
def test_1mm_input_on_the_output_grid_is_just_cropped(relative):
    """An LPS-stored 1 mm scan already is the 1 mm LPS grid: both modes return its voxels."""
    size = (70, 64, 61)
    image = _make_volume(size, (1.0, 1.0, 1.0), (-35.0, 20.0, -100.0), IDENTITY, seed=5)
    index = np.array([f * (n - 1) for f, n in zip(relative, size)]) + 0.3
    seed = image.TransformContinuousIndexToPhysicalPoint(index.tolist())
    v = hu_to_fmcib_intensity(sitk.GetArrayFromImage(image))  # (z, y, x)
    slices = [
        slice(max(int(c) - 25, 0), min(int(c) + 25, n)) for c, n in zip(index[::-1], v.shape)
    ]
    patch = v[tuple(slices)]
    expected = np.pad(patch, [((50 - d) // 2, 50 - d - (50 - d) // 2) for d in patch.shape])
    for mode in ("fmcib", "exact"):
        np.testing.assert_allclose(
            extract_fm_cube(image, seed, mode=mode), expected, rtol=0, atol=1e-6
        )


# ----------------------------------------------------------------------------- region-first reading


def test_the_cube_reads_nothing_outside_its_box():
    """Voxels outside the plan's box cannot change the cube: the box is all it needs."""
    for name, seed in [c.values for c in CASES[::3]]:
        image = _IMAGES[name]
        for mode in RESAMPLING_MODES:
            plan = plan_fm_cube(ScanGeometry.of(image), seed, mode)
            scrambled = np.full(sitk.GetArrayViewFromImage(image).shape, 3071, dtype=np.int16)
            scrambled[plan.box.slices] = sitk.GetArrayViewFromImage(image)[plan.box.slices]
            other = sitk.GetImageFromArray(scrambled)
            other.CopyInformation(image)
            np.testing.assert_array_equal(
                extract_fm_cube(other, seed, mode), extract_fm_cube(image, seed, mode)
            )


def _cube_from_file(path, seed, mode) -> np.ndarray:
    """The header, then only the box the cube samples (as the preprocessing node reads)."""
    plan = plan_fm_cube(ScanGeometry.of(read_volume_header(path)), seed, mode)
    region = read_volume_region(path, plan.box.start, plan.box.size)
    assert region.GetSize() == plan.box.size
    return plan.sample(sitk.GetArrayViewFromImage(region))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_partial_read_gives_the_full_read_cube_exactly(tmp_path, suffix):
    """Same header, same voxels, same arithmetic: bit-identical, in every geometry case
    (oblique, permuted, thin, seeds at and beyond the faces)."""
    names = ["a07_oblique", "a057_oblique_permuted", "a06_coronal", "a07_identity", "thin_slab"]
    for name in names:
        path = tmp_path / f"{name}{suffix}"
        sitk.WriteImage(_IMAGES[name], str(path))
        full = read_volume(path)  # NIfTI rounds the geometry to float32: compare like for like
        for case_name, seed in (c.values for c in CASES):
            if case_name != name:
                continue
            for mode in RESAMPLING_MODES:
                np.testing.assert_array_equal(
                    _cube_from_file(path, seed, mode), extract_fm_cube(full, seed, mode)
                )


@pytest.mark.parametrize("direction", [CORONAL, OBLIQUE], ids=["coronal", "oblique"])
def test_dicom_series_read_by_its_slab_gives_the_full_read_cube_exactly(
    tmp_path, keep_locale, direction
):
    """A series' header comes from two slice files and its box from the slices it spans."""
    image = _make_volume((64, 60, 40), (0.75, 0.75, 2.5), (-120.25, -80.5, -300.0), direction, seed=7)
    _write_dicom_series(image, tmp_path)
    uid = "1.2.826.0.1.3680043.2.1125.4242.2"  # as _write_dicom_series names the series
    full = read_volume(tmp_path, series_uid=uid)
    header = read_volume_header(tmp_path, series_uid=uid)
    assert ScanGeometry.of(header) == ScanGeometry.of(full)
    for relative in [(0.41, 0.55, 0.63), (0.1, 0.9, 0.05)]:
        seed = _seed_at(image, relative)
        for mode in RESAMPLING_MODES:
            plan = plan_fm_cube(ScanGeometry.of(header), seed, mode)
            region = read_volume_region(tmp_path, plan.box.start, plan.box.size, series_uid=uid)
            np.testing.assert_array_equal(
                plan.sample(sitk.GetArrayViewFromImage(region)), extract_fm_cube(full, seed, mode)
            )


@pytest.mark.parametrize("name", ["a07_oblique", "a057_oblique_permuted"])
def test_a_cube_in_the_zero_padding_reads_no_voxels(name):
    """An oblique scan leaves the corners of its 1 mm grid empty: a crop of only corner
    voxels (crop centre at grid index -24) samples no voxel, reads none, and is all 0."""
    volume, affine = _monai_volume(name)
    ras = affine @ np.array([-24.0, -24.0, -24.0, 1.0])
    seed = (-ras[0], -ras[1], ras[2])
    for mode, oracle in (("fmcib", _fmcib_oracle), ("exact", _exact_oracle)):
        plan = plan_fm_cube(ScanGeometry.of(_IMAGES[name]), seed, mode)
        assert plan.box is None
        np.testing.assert_array_equal(plan.sample(None), np.zeros((CUBE_SIZE,) * 3))
        np.testing.assert_allclose(plan.sample(None), oracle(name, seed), rtol=0, atol=TOL)


def test_sample_checks_the_region_shape():
    image = _IMAGES["a07_identity"]
    plan = plan_fm_cube(ScanGeometry.of(image), _seed_at(image, (0.5, 0.5, 0.5)))
    with pytest.raises(ValueError, match=r"shape"):
        plan.sample(sitk.GetArrayViewFromImage(image))


def test_geometry_from_a_header_equals_that_of_the_image(tmp_path):
    path = tmp_path / "scan.nrrd"
    sitk.WriteImage(_IMAGES["a057_oblique_permuted"], str(path))
    assert ScanGeometry.of(read_volume_header(path)) == ScanGeometry.of(read_volume(path))
    with pytest.raises(ValueError, match="scalar 3D"):
        ScanGeometry.of(sitk.Image(8, 8, sitk.sitkInt16))


def test_other_resampling_names_the_setting():
    assert other_resampling("fmcib") == "exact" and other_resampling("exact") == "fmcib"
    with pytest.raises(ValueError, match=r"fm\.resampling"):
        other_resampling("linear")


# ----------------------------------------------------------------------------- network features

FEATURE_CASES = [CASES[i] for i in (0, 4, 6, 11, 14, 19)]


@pytest.fixture(scope="module")
def network():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield load_fm_extractor(None, seed=3)[0]
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("mode", "oracle"), [("fmcib", _fmcib_oracle), ("exact", _exact_oracle)], ids=["fmcib", "exact"]
)
def test_features_of_our_cube_and_the_oracle_cube_agree(network, mode, oracle):
    """Through the same network, cubes that differ by float rounding (fmcib: none here;
    exact: 2.5e-8) give features that differ by < 1e-6 of max |feature| (exact: 3e-6 on a
    scale of 7). Relative to max |feature| because an absolute bound would depend on the
    weights' scale (this random-init network's features reach ~7, FMCIB's differ)."""
    ours = np.stack([extract_fm_cube(_IMAGES[name], seed, mode) for name, seed in
                     (c.values for c in FEATURE_CASES)])
    theirs = np.stack([oracle(name, seed) for name, seed in (c.values for c in FEATURE_CASES)])
    assert np.abs(ours - theirs).max() <= TOL
    a, b = (extract_features(network, cubes, batch_size=len(cubes)) for cubes in (ours, theirs))
    scale = float(np.abs(b).max())
    assert np.abs(a - b).max() <= 1e-5 * scale
