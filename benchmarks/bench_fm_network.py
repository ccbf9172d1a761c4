"""Throughput of the FMCIB trunk on this CPU, as a share of what a dense matmul achieves.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_fm_network.py [--batch-sizes 1 4 8 16]

Counts the network's FLOPs per 50^3 cube with torch's FlopCounterMode (a multiply-add is 2
FLOPs) and takes a 4096 x 4096 float32 torch.mm in the same process as the attainable rate.
Then, in rounds, times the matmul and extract_features on the same 16 cubes at each batch
size, with the network as loaded and as the pipeline runs it (BatchNorm folded,
``fold_batch_norm_``). Reports the best of the rounds: cubes/s, GFLOP/s and the share of the
best matmul rate, and each setting's largest feature difference from the unfolded network
at the first batch size, relative to max |feature|. On a shared machine each timed run
waits until no other process is runnable (up to --max-wait s); still, check `uptime`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from lung_fm_robustness.fm.network import (
    CUBE_SHAPE,
    configure_threads,
    extract_features,
    fold_batch_norm_,
    load_fm_extractor,
)

MATMUL_N = 4096


def flops_per_cube(model: torch.nn.Module) -> int:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, *CUBE_SHAPE))
    return counter.get_total_flops()


def wait_until_idle(max_wait: float) -> None:
    """Wait until this process is the only runnable one (/proc/loadavg), at most max_wait s."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        running = int(open("/proc/loadavg").read().split()[3].split("/")[0])
        if running <= 1:
            return
        time.sleep(0.5)


def timed(work, max_wait: float):
    """(result, seconds) of ``work()``, started once the CPU is idle."""
    wait_until_idle(max_wait)
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--cubes", type=int, default=16, help="cubes per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per setting (best)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--max-wait", type=float, default=60.0, help="s to wait for an idle CPU")
    args = parser.parse_args()
    configure_threads(args.threads)

    models = {
        "as loaded": load_fm_extractor(None, seed=0)[0],
        "folded": fold_batch_norm_(load_fm_extractor(None, seed=0)[0]),
    }
    flops = flops_per_cube(models["as loaded"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}; "
          f"{flops / 1e9:.2f} GFLOP per cube (multiply-add = 2)")

    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    cubes = np.random.default_rng(0).random((args.cubes, *CUBE_SHAPE), dtype=np.float32)
    for model in models.values():
        extract_features(model, cubes[:2], batch_size=2)  # warm-up
    torch.mm(a, b)
    matmul, best, features = [], {}, {}
    for _ in range(args.rounds):
        matmul.append(timed(lambda: torch.mm(a, b), args.max_wait)[1])
        for name, model in models.items():
            for size in args.batch_sizes:
                features[name, size], elapsed = timed(
                    lambda: extract_features(model, cubes, batch_size=size), args.max_wait
                )
                best[name, size] = min(best.get((name, size), np.inf), elapsed)
    peak = 2 * MATMUL_N**3 / min(matmul) / 1e9
    print(f"dense float32 matmul {MATMUL_N}^2 x {MATMUL_N}^2: {peak:.0f} GFLOP/s (best of "
          f"{args.rounds}; all: {', '.join(f'{2 * MATMUL_N**3 / t / 1e9:.0f}' for t in matmul)})")

    reference = features["as loaded", args.batch_sizes[0]]
    scale = float(np.abs(reference).max())
    for name in models:
        for size in args.batch_sizes:
            rate = args.cubes / best[name, size]
            gflops = rate * flops / 1e9
            diff = float(np.abs(features[name, size] - reference).max()) / scale
            print(f"{name:9s} batch {size:2d}: {rate:5.2f} cubes/s, {gflops:4.0f} GFLOP/s, "
                  f"{gflops / peak:4.0%} of matmul; features vs as loaded, batch "
                  f"{args.batch_sizes[0]}: {diff:.1e} of max |feature|")


if __name__ == "__main__":
    main()
