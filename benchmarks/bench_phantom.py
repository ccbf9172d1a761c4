"""Time the full default phantom study: draw, render, every reconstruction, mask and truth.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_phantom.py [--n-patients 59] [--write DIR]

Patients are generated one at a time, as the ingestion node does, so peak memory is that
of one acquisition plus its reconstructions. ``--write DIR`` also writes every volume and
mask as the catalog does (.nii.gz, gzip-compressed), to see what writing costs.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from lung_fm_robustness.datasets.ct_volume import write_volume
from lung_fm_robustness.phantom import study

SUFFIX = ".nii.gz"  # conf/base/globals.yml: volume_suffix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=study.DEFAULT_PARAMS["n_patients"])
    parser.add_argument("--write", type=Path, help="write the volumes and masks into this folder")
    args = parser.parse_args()
    config = study.PhantomConfig.from_params(
        {**study.DEFAULT_PARAMS, "n_patients": args.n_patients}
    )
    conditions = [(k, t) for k in config.kernels for t in config.slice_thicknesses_mm]

    stages = dict.fromkeys(("draw", "render", "reconstruct", "mask", "truth"), 0.0)
    if args.write:
        stages["write"] = 0.0
        args.write.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    for index in range(config.n_patients):
        t = time.perf_counter()
        spec = study.draw_patient(config, index)
        stages["draw"] += time.perf_counter() - t
        t = time.perf_counter()
        acquisition = study.render_acquisition(config, spec)
        stages["render"] += time.perf_counter() - t
        for kernel, thickness in conditions:
            t = time.perf_counter()
            image = study.reconstruct(config, acquisition, kernel, thickness)
            stages["reconstruct"] += time.perf_counter() - t
            t = time.perf_counter()
            mask = study.nodule_mask(config, spec, kernel, thickness)
            stages["mask"] += time.perf_counter() - t
            if args.write:
                t = time.perf_counter()
                key = study.scan_id(spec.patient_id, kernel, thickness)
                write_volume(image, args.write / f"{key}{SUFFIX}")
                write_volume(mask, args.write / f"{key}_mask{SUFFIX}")
                stages["write"] += time.perf_counter() - t
        t = time.perf_counter()
        study.nodule_truth(config, spec)
        stages["truth"] += time.perf_counter() - t
        del acquisition
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(
        f"{config.n_patients} patients x {len(conditions)} conditions: {total:.1f} s wall "
        f"({total / config.n_patients:.3f} s per patient), {cpu:.1f} s CPU (all threads), "
        f"peak RSS {peak_mib:.0f} MiB"
    )
    print("  wall by stage: " + ", ".join(f"{name} {sec:.1f} s" for name, sec in stages.items()))


if __name__ == "__main__":
    main()
