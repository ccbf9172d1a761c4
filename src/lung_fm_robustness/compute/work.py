"""Per-scan work as data: what to compute for each key, and the fingerprint of its inputs.

A node returns a ``ScanWork``; the resumable partitioned dataset compares each task's
fingerprint with the one saved beside its partitions and computes only what changed.
Tasks are top-level functions with plain, picklable arguments, so any backend can run them.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lung_fm_robustness import __version__
from lung_fm_robustness.compute.bounded_map import bounded_map
from lung_fm_robustness.compute.executors import open_executor
from lung_fm_robustness.compute.settings import ComputeSettings


def fingerprint(*parts: Any) -> str:
    """sha256 of the parts as canonical JSON (with the package version): equal inputs,
    equal fingerprint; any changed parameter, row or input identity, another one."""
    text = json.dumps([__version__, *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Task:
    """``fn(*args)`` returns ``{partition_key: value}``; ``fingerprint`` identifies its inputs."""

    fn: Callable[..., dict[str, Any]]
    args: tuple
    fingerprint: str


@dataclass(frozen=True)
class ScanWork:
    """Tasks by key (a scan, a patient or a batch of scans) and where to run them."""

    stage: str
    tasks: dict[str, Task]
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    unit: str = "scans"  # what a key counts, in progress lines


def run_in_memory(work: ScanWork) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each task's partitions, as completed, without saving them (bounded in flight)."""
    with open_executor(work.compute) as executor:
        items = ((key, (task.fn, task.args, work.compute.threads_per_worker))
                 for key, task in work.tasks.items())
        yield from bounded_map(executor, call_with_threads, items, work.compute.in_flight)


def call_with_threads(fn: Callable[..., Any], args: tuple, threads: int) -> Any:
    """``fn(*args)`` with torch and ITK limited to ``threads`` threads, as in every worker
    slot of every backend (so results do not depend on the backend), then restored."""
    import SimpleITK as sitk
    import torch

    torch_before, itk_before = torch.get_num_threads(), sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    torch.set_num_threads(threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(torch_before)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(itk_before)
