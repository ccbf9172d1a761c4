"""Throughput (scans/s) of each per-scan stage and end to end, per compute backend, and the
peak memory of the whole process tree (kedro process + workers).

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_scaling.py [--n-patients 10] \
        [--backends sequential+processes+dask] [--n-workers 2]

Each backend runs the four per-scan stages (ingestion, preprocessing, fm_features,
radiomics_features) from empty data folders in a temporary copy of the project, with
Kedro's runner, the project's catalog and parameters (``compute.*`` overridden), one
stage at a time so that each is timed; worker start-up (process spawn, torch import,
network build) falls in the first stage that needs it, as in a real run. Memory is
sampled every 0.1 s over this process and all its descendants (psutil, RSS summed).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

import psutil
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from lung_fm_robustness.compute.executors import close_executors
from lung_fm_robustness.pipeline_registry import register_pipelines

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingestion", "preprocessing", "fm_features", "radiomics_features")
N_CONDITIONS = 6


class TreeMemory:
    """Peak RSS (bytes) of this process plus all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.peak, self._interval = 0, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def copy_project(target: Path) -> Path:
    for item in ("conf", "src"):
        shutil.copytree(ROOT / item, target / item, ignore=shutil.ignore_patterns("local", "__pycache__"))
    (target / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", target)
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature", "08_reporting"):
        (target / "data" / layer).mkdir(parents=True)
    return target


def run_backend(project: Path, backend: str, n_patients: int, n_workers: int) -> dict[str, float]:
    """Seconds per stage, from empty data folders. Every backend gets ``n_workers`` threads in
    all: the pools as n_workers x 1 thread, sequential as one worker of n_workers threads."""
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature"):
        shutil.rmtree(project / "data" / layer)
        (project / "data" / layer).mkdir()
    runtime = {"ingestion": {"phantom": {"n_patients": n_patients}},
               "compute": {"backend": backend, "n_workers": 1 if backend == "sequential" else n_workers,
                           "threads_per_worker": n_workers if backend == "sequential" else 1}}
    config = OmegaConfigLoader(str(project / "conf"), base_env="base", default_run_env="local",
                               runtime_params=runtime)
    catalog = DataCatalog.from_config(config["catalog"])
    for name in list(catalog.keys()):
        if type(catalog.get(name)).__module__.startswith("kedro_mlflow"):
            catalog[name] = MemoryDataset()
    for name, value in config["parameters"].items():
        catalog[f"params:{name}"] = value
    pipelines = register_pipelines()
    seconds = {}
    try:
        for stage in STAGES:
            start = time.perf_counter()
            SequentialRunner().run(pipelines[stage], catalog)
            seconds[stage] = time.perf_counter() - start
    finally:
        close_executors()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=10)
    parser.add_argument("--backends", default="sequential+processes+dask")
    parser.add_argument("--n-workers", type=int, default=2)
    args = parser.parse_args()
    n_scans = args.n_patients * N_CONDITIONS
    print(f"{args.n_patients} patients x {N_CONDITIONS} conditions = {n_scans} scans, "
          f"{os.cpu_count()} CPU cores; pools {args.n_workers} workers x 1 thread, "
          f"sequential 1 x {args.n_workers} threads\n")
    print("| backend | " + " | ".join(f"{s} (scans/s)" for s in STAGES) + " | end to end (scans/s) | total (s) | peak RSS, tree (GB) |")
    print("|---" * (len(STAGES) + 4) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        cwd = os.getcwd()
        os.chdir(project)
        try:
            for backend in args.backends.split("+"):
                with TreeMemory() as memory:
                    seconds = run_backend(project, backend, args.n_patients, args.n_workers)
                total = sum(seconds.values())
                cells = [f"{n_scans / seconds[s]:.2f}" for s in STAGES]
                print(f"| {backend} | " + " | ".join(cells)
                      + f" | {n_scans / total:.2f} | {total:.1f} | {memory.peak / 1e9:.2f} |", flush=True)
        finally:
            os.chdir(cwd)


if __name__ == "__main__":
    main()
