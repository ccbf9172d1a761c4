"""Where per-scan work runs: in this process, in a local process pool, or on a Dask cluster.

``ComputeSettings`` reads ``params:compute``; ``open_executor`` starts (and later closes) the
chosen executor; ``bounded_map`` keeps a bounded number of tasks in flight so memory stays
flat however large the cohort; ``ScanWork`` is what a node returns for a resumable
partitioned dataset to compute and save.
"""
from lung_fm_robustness.compute.bounded_map import bounded_map
from lung_fm_robustness.compute.executors import open_executor
from lung_fm_robustness.compute.settings import BACKENDS, ComputeSettings
from lung_fm_robustness.compute.work import ScanWork, Task, fingerprint, run_in_memory

__all__ = [
    "BACKENDS",
    "ComputeSettings",
    "ScanWork",
    "Task",
    "bounded_map",
    "fingerprint",
    "open_executor",
    "run_in_memory",
]
