"""Per-nodule FMCIB preprocessing from a scan file: whole read vs header + box read.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_fm_read.py [--formats .mha .nrrd .nii.gz]

A synthetic 512 x 512 x 300 int16 chest CT (0.7 x 0.7 x 1 mm, built as in bench_fm_cube.py)
is written once per format (.mha and .nrrd uncompressed, .nii.gz compressed as the phantom's
scans). Per nodule (FMCIB's unit of work: one table row), up to three ways from the file:

- monai: read the whole scan, FMCIB 1.0.0's MONAI 1.5 chain on all of it, crop (--monai);
- whole: read the whole scan, then extract_fm_cube (region-first sampling);
- box:   read the header, then only the voxel box the cube samples, as the preprocessing
         node does through ScanTable.image_header / image_region.

Each way runs in its own process per format, so the peak memory it reports is its own;
files are in the page cache after writing (warm reads). `box` cubes must equal `whole`
cubes bit for bit, and `monai` cubes within 1e-5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from lung_fm_robustness.datasets.ct_volume import read_volume, read_volume_header, read_volume_region
from lung_fm_robustness.fm.cube import ScanGeometry, extract_fm_cube, plan_fm_cube


def cube_by(way: str, path: Path, seed) -> np.ndarray:
    """One nodule's cube from the file, read ``way``."""
    if way == "box":
        plan = plan_fm_cube(ScanGeometry.of(read_volume_header(path)), seed)
        region = read_volume_region(path, plan.box.start, plan.box.size)
        return plan.sample(sitk.GetArrayViewFromImage(region))
    image = read_volume(path)
    if way == "whole":
        return extract_fm_cube(image, seed)
    from bench_fm_cube import monai_chain, reference_crop  # torch and MONAI: only here

    return reference_crop(*monai_chain(image), seed)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from
    the parent across exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def worker(way: str, path: Path, seeds: list, repeats: int) -> None:
    """Time ``way`` per nodule; print JSON, save the cubes beside the file for the check."""
    baseline = peak_rss_mb()
    times = []
    for _ in range(repeats):
        cubes = []
        for seed in seeds:
            start = time.perf_counter()
            cubes.append(cube_by(way, path, seed))
            times.append(time.perf_counter() - start)
    np.save(f"{path}.{way}.npy", np.stack(cubes))
    print(json.dumps({"s": float(np.median(times)), "rss_mb": peak_rss_mb() - baseline}))


def run_way(way: str, path: Path, seeds: list, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", way, str(path), json.dumps(seeds), str(repeats)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=[".mha", ".nrrd", ".nii.gz"])
    parser.add_argument("--repeats", type=int, default=3, help="passes over the 8 nodules")
    parser.add_argument("--monai", action="store_true", help="also time the MONAI chain (~4 GB)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        way, path, seeds, repeats = args.worker
        worker(way, Path(path), json.loads(seeds), int(repeats))
        return

    from bench_fm_cube import nodule_seeds, synthetic_chest

    image = synthetic_chest(300, 1.0, np.random.default_rng(0))
    seeds = [list(s) for s in nodule_seeds(image)]
    ways = ("monai", "whole", "box") if args.monai else ("whole", "box")
    with tempfile.TemporaryDirectory() as folder:
        for suffix in args.formats:
            path = Path(folder) / f"chest{suffix}"
            sitk.WriteImage(image, str(path), useCompression=suffix == ".nii.gz")
            results = {way: run_way(way, path, seeds, 1 if way == "monai" else args.repeats)
                       for way in ways}
            cubes = {way: np.load(f"{path}.{way}.npy") for way in ways}
            assert np.array_equal(cubes["box"], cubes["whole"]), f"{suffix}: box != whole"
            if "monai" in cubes:
                worst = float(np.abs(cubes["monai"] - cubes["whole"]).max())
                assert worst <= 1e-5, f"{suffix}: MONAI chain differs by {worst:.3g}"
            size_mb = path.stat().st_size / 1024**2
            line = ", ".join(
                f"{way} {r['s'] * 1e3:.0f} ms/nodule (+{r['rss_mb']:.0f} MB peak)"
                for way, r in results.items()
            )
            speedup = results["whole"]["s"] / results["box"]["s"]
            print(f"{suffix:7s} ({size_mb:.0f} MB file): {line}; box read x{speedup:.1f} vs whole",
                  flush=True)


if __name__ == "__main__":
    main()
