"""Peak memory of the whole study (`kedro run`) as the cohort grows: the default 59 phantom
patients vs 4x as many, in temporary copies of the project.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_memory.py [--n-patients 59+236] \
        [--params compute.backend=processes]

Per-scan work streams through the resumable partitioned datasets (a bounded number of
scans in flight), so peak memory should not grow with the cohort; only the feature tables
(n_scans x 4,096 float32 for the FM) do. Reported: wall time, the peak RSS summed over the
`kedro run` process and all its descendants (sampled every 0.2 s with psutil), and the
largest single process's peak.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_scaling import (
    copy_project,  # benchmarks/ is on sys.path when run as a script
)


def measure(project: Path, params: str) -> tuple[float, int, int, int]:
    """Seconds, peak tree RSS, peak single-process RSS (bytes) and the exit code."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    start = time.perf_counter()
    with open(project / "run.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kedro", "run", "--params", params], cwd=project, env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        tree_peak, single_peak = _sample(proc)
    return time.perf_counter() - start, tree_peak, single_peak, proc.returncode


def _sample(proc: subprocess.Popen) -> tuple[int, int]:
    """Peak RSS of the process tree (summed) and of its largest process, until it exits."""
    root = psutil.Process(proc.pid)
    tree_peak = single_peak = 0
    while proc.poll() is None:
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            members = []
        for member in members:
            try:
                rss = member.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            single_peak = max(single_peak, rss)
        tree_peak = max(tree_peak, total)
        if int(time.monotonic()) % 60 == 0:  # a running figure, should the run be cut short
            print(f"  running peak RSS: tree {tree_peak / 1e9:.2f} GB, largest process {single_peak / 1e9:.2f} GB",
                  file=sys.stderr, flush=True)
        time.sleep(0.2)
    return tree_peak, single_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", default="59+236")
    parser.add_argument("--params", default="", help="more kedro --params, comma-separated")
    args = parser.parse_args()
    print("| patients | scans | wall time (s) | peak RSS, process tree (GB) | peak RSS, largest process (GB) |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.n_patients.split("+")):
        with tempfile.TemporaryDirectory() as tmp:
            project = copy_project(Path(tmp))
            params = ",".join(p for p in (f"ingestion.phantom.n_patients={n}", args.params) if p)
            seconds, tree, single, code = measure(project, params)
            if code != 0:
                sys.exit(f"kedro run failed for {n} patients:\n{(project / 'run.log').read_text()[-3000:]}")
            print(f"| {n} | {6 * n} | {seconds:.0f} | {tree / 1e9:.2f} | {single / 1e9:.2f} |", flush=True)


if __name__ == "__main__":
    main()
