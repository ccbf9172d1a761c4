"""The ``compute`` parameters (conf/base/parameters_compute.yml), validated once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BACKENDS = ("sequential", "processes", "dask")
_KEYS = ("backend", "n_workers", "threads_per_worker", "scheduler_address", "max_in_flight")


def _positive_int(params: dict[str, Any], key: str, default: int | None) -> int | None:
    value = params.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"compute.{key} must be a positive integer, got {value!r}; set it in "
            "conf/base/parameters_compute.yml or with --params compute.{key}=N."
        )
    return value


@dataclass(frozen=True)
class ComputeSettings:
    """Which executor runs per-scan work, and how wide.

    ``n_workers`` worker processes of ``threads_per_worker`` threads each (the sequential
    backend is one such worker: this process). ``max_in_flight`` bounds the tasks submitted
    and not yet collected (default twice the workers), which bounds memory.
    ``scheduler_address`` (``dask`` only) joins an existing Dask cluster instead of
    starting a local one.
    """

    backend: str = "sequential"
    n_workers: int = 2
    threads_per_worker: int = 1
    scheduler_address: str | None = None
    max_in_flight: int | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> ComputeSettings:
        params = dict(params or {})
        unknown = sorted(set(params) - set(_KEYS))
        if unknown:
            raise ValueError(f"Unknown compute parameter(s) {unknown}; allowed: {list(_KEYS)}.")
        backend = params.get("backend", "sequential")
        if backend not in BACKENDS:
            raise ValueError(
                f"compute.backend must be one of {', '.join(BACKENDS)}, got {backend!r} "
                "(conf/base/parameters_compute.yml)."
            )
        address = params.get("scheduler_address")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(
                f"compute.scheduler_address must be a Dask scheduler address such as "
                f"'tcp://10.0.0.5:8786', or null for a local cluster; got {address!r}."
            )
        if address is not None and backend != "dask":
            raise ValueError(
                f"compute.scheduler_address is set ({address!r}) but compute.backend is "
                f"{backend!r}: set compute.backend to dask, or the address to null."
            )
        return cls(
            backend=backend,
            n_workers=_positive_int(params, "n_workers", 2),
            threads_per_worker=_positive_int(params, "threads_per_worker", 1),
            scheduler_address=address,
            max_in_flight=_positive_int(params, "max_in_flight", None),
        )

    @property
    def in_flight(self) -> int:
        """Tasks submitted and not yet collected, at most."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return 1 if self.backend == "sequential" else 2 * self.n_workers
