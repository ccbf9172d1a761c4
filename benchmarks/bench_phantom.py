"""Time the full default phantom study: draw, render, every reconstruction, mask and truth.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_phantom.py [--n-patients 59]

Patients are generated one at a time, as the ingestion node does, so peak memory is that
of one acquisition plus its reconstructions.
"""

from __future__ import annotations

import argparse
import resource
import time

from lung_fm_robustness.phantom import study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=study.DEFAULT_PARAMS["n_patients"])
    args = parser.parse_args()
    config = study.PhantomConfig.from_params(
        {**study.DEFAULT_PARAMS, "n_patients": args.n_patients}
    )
    conditions = [(k, t) for k in config.kernels for t in config.slice_thicknesses_mm]

    stages = dict.fromkeys(("draw", "render", "reconstruct", "mask", "truth"), 0.0)
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
            study.reconstruct(config, acquisition, kernel, thickness)
            stages["reconstruct"] += time.perf_counter() - t
            t = time.perf_counter()
            study.nodule_mask(config, spec, kernel, thickness)
            stages["mask"] += time.perf_counter() - t
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
