"""Time FMCIB's whole-volume MONAI 1.5 chain against the region-first extract_fm_cube.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_fm_cube.py [--slice-mm 1.0 2.0]

For each slice spacing a synthetic 512 x 512 chest CT (0.7 mm pixels, int16, `--coverage-mm`
of z, 300 slices at 1 mm) is built in memory. FMCIB runs its chain once per table row,
i.e. once per nodule, so the chain's time is its per-nodule cost. The chain's result is
cropped at every nodule as the reference does and must match extract_fm_cube(mode="fmcib")
within 1e-5. The chain peaks at ~4 GB RSS (torch's sampling grid alone is 3 float64 per voxel).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import SimpleITK as sitk

from lung_fm_robustness.fm.cube import extract_fm_cube
from lung_fm_robustness.fm.monai_reference import monai_volume, reference_crop

PIXEL_MM = 0.7
SIZE_XY = 512


def synthetic_chest(n_slices: int, slice_mm: float, rng: np.random.Generator) -> sitk.Image:
    """Air, an elliptic body, two lungs, a spine and noise; built slice by slice (int16)."""
    y, x = np.mgrid[:SIZE_XY, :SIZE_XY] * PIXEL_MM - SIZE_XY * PIXEL_MM / 2
    body = (x / 160) ** 2 + (y / 115) ** 2 < 1
    spine = (x / 18) ** 2 + ((y - 75) / 18) ** 2 < 1
    hu = np.empty((n_slices, SIZE_XY, SIZE_XY), dtype=np.int16)
    for k in range(n_slices):
        taper = 0.6 + 0.4 * np.sin(np.pi * (k + 0.5) / n_slices)  # lungs narrow at apex and base
        lungs = ((np.abs(x) - 70) / (55 * taper)) ** 2 + ((y + 5) / (85 * taper)) ** 2 < 1
        plane = np.where(body, 40.0, -1000.0)
        plane[lungs & body] = -850.0
        plane[spine] = 700.0
        hu[k] = np.clip(plane + rng.normal(0.0, 25.0, plane.shape), -1024, 3071)
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing((PIXEL_MM, PIXEL_MM, slice_mm))
    image.SetOrigin((-SIZE_XY * PIXEL_MM / 2, -SIZE_XY * PIXEL_MM / 2, -n_slices * slice_mm))
    return image


def nodule_seeds(image: sitk.Image) -> list[tuple[float, float, float]]:
    """Seeds in both lungs, at the lung walls, and near the top, bottom and side faces."""
    nx, ny, nz = image.GetSize()
    relative = [
        (0.36, 0.5, 0.5), (0.64, 0.45, 0.4), (0.3, 0.4, 0.7), (0.7, 0.6, 0.25),
        (0.25, 0.5, 0.5), (0.5, 0.5, 0.02), (0.6, 0.5, 0.99), (0.02, 0.5, 0.6),
    ]  # fmt: skip
    return [
        image.TransformContinuousIndexToPhysicalPoint(
            [f * (n - 1) for f, n in zip(r, (nx, ny, nz))]
        )
        for r in relative
    ]


def bench(slice_mm: float, coverage_mm: float, repeats: int, monai_runs: int) -> None:
    n_slices = int(round(coverage_mm / slice_mm))
    image = synthetic_chest(n_slices, slice_mm, np.random.default_rng(0))
    seeds = nodule_seeds(image)

    times = []
    for _ in range(monai_runs):
        start = time.perf_counter()
        volume, affine = monai_volume(image)
        times.append(time.perf_counter() - start)
    monai_s = min(times)

    worst = 0.0
    for seed in seeds:
        worst = max(
            worst,
            float(
                np.abs(extract_fm_cube(image, seed) - reference_crop(volume, affine, seed)).max()
            ),
        )
    assert worst <= 1e-5, f"region-first cube differs from the MONAI chain by {worst:.3g}"
    del volume

    start = time.perf_counter()
    for _ in range(repeats):
        for seed in seeds:
            extract_fm_cube(image, seed)
    ours_s = (time.perf_counter() - start) / (repeats * len(seeds))

    print(
        f"{SIZE_XY}x{SIZE_XY}x{n_slices} @ {PIXEL_MM}x{PIXEL_MM}x{slice_mm} mm, "
        f"{len(seeds)} nodules: "
        f"MONAI 1.5 chain {monai_s:.2f} s/nodule (best of {monai_runs}), "
        f"extract_fm_cube {ours_s * 1e3:.1f} ms/nodule (mean of {repeats * len(seeds)}), "
        f"speed-up x{monai_s / ours_s:.0f}; max |diff| {worst:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slice-mm", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--coverage-mm", type=float, default=300.0, help="z coverage of each scan")
    parser.add_argument(
        "--repeats", type=int, default=10, help="passes over the nodules for extract_fm_cube"
    )
    parser.add_argument("--monai-runs", type=int, default=1)
    args = parser.parse_args()
    for slice_mm in args.slice_mm:
        bench(slice_mm, args.coverage_mm, args.repeats, args.monai_runs)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
