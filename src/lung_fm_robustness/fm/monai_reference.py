"""FMCIB 1.0.0's own whole-volume preprocessing, built from MONAI 1.5's transforms: the
reference our region-first cube (fm/cube.py) is verified against in the tests and timed
against in benchmarks/bench_fm_cube.py. Slow (seconds and GBs per scan); never on the
study's path.

The image reaches MONAI as the MetaTensor its ITKReader would build (the `itk` package is
not needed): array in (x, y, z) order, RAS affine = diag(-1, -1, 1) x [direction * spacing |
origin]. The chain is NormalizeIntensityd, Spacingd (1 mm, linear, zero padding, aligned
corners), Orientationd("LPS"); then SeedBasedPatchCrop, Transposed and SpatialPadd, re-typed
in numpy.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, NormalizeIntensityd, Orientationd, Spacingd

from lung_fm_robustness.fm.cube import CUBE_SIZE


def itk_reader_affine(image: sitk.Image) -> np.ndarray:
    """As monai.data.ITKReader._get_affine (affine_lps_to_ras=True)."""
    affine = np.eye(4)
    affine[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def orient_lps(image: MetaTensor) -> MetaTensor:
    """Orientationd(axcodes="LPS"). It needs nibabel, which MONAI does not require; without
    it, the same effect on Spacingd's RAS-aligned output: flip array axes 0 and 1."""
    if importlib.util.find_spec("nibabel") is not None:
        return Orientationd(keys=["image"], axcodes="LPS")({"image": image})["image"]
    shape = image.shape[1:]
    flip = np.eye(4)
    flip[0, 0] = flip[1, 1] = -1.0
    flip[0, 3], flip[1, 3] = shape[0] - 1.0, shape[1] - 1.0
    return MetaTensor(torch.flip(image.as_tensor(), dims=(1, 2)), affine=image.affine.numpy() @ flip)


def monai_volume(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The whole volume through MONAI's chain: (LPS-oriented intensity volume in (x, y, z)
    order, its RAS affine)."""
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float32)
    meta = MetaTensor(
        torch.from_numpy(np.ascontiguousarray(array))[None],
        affine=torch.as_tensor(itk_reader_affine(image), dtype=torch.float64),
        meta={"space": "RAS"},
    )
    chain = Compose(
        [
            NormalizeIntensityd(keys=["image"], subtrahend=-1024, divisor=3072),
            Spacingd(
                keys=["image"],
                pixdim=1,
                mode="linear",
                padding_mode="zeros",
                align_corners=True,
                diagonal=True,
            ),
        ]
    )
    out = orient_lps(chain({"image": meta})["image"])
    return out.numpy()[0], out.affine.numpy()


def reference_crop(volume: np.ndarray, affine: np.ndarray, seed) -> np.ndarray | None:
    """SeedBasedPatchCrop (LPS seed, int() centre, clamped), Transposed, SpatialPadd; None
    where the reference's crop would be empty (it asserts there)."""
    centre = np.linalg.inv(affine) @ np.array((-seed[0], -seed[1], seed[2], 1.0))
    half = CUBE_SIZE // 2
    box = []
    for c, n in zip((int(v) for v in centre[:3]), volume.shape):
        lo, hi = max(c - half, 0), min(c + half, n)
        if lo >= hi:
            return None
        box.append(slice(lo, hi))
    patch = volume[tuple(box)].transpose(2, 1, 0)
    return np.pad(
        patch, [((CUBE_SIZE - d) // 2, CUBE_SIZE - d - (CUBE_SIZE - d) // 2) for d in patch.shape]
    )
