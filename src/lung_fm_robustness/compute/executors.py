"""The executor of each backend, behind one ``concurrent.futures.Executor`` interface.

``processes`` uses the "spawn" start method: torch, ITK and OpenMP thread pools are not
safe to fork. ``dask`` joins ``compute.scheduler_address`` or starts a ``LocalCluster`` of
worker processes. Starting workers costs seconds (each imports torch and loads the
network), so one executor serves every stage of a run: it is kept open for the next
stage with the same settings and closed when the settings change, by
``close_executors()``, or at interpreter exit.
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager

from lung_fm_robustness.compute.settings import ComputeSettings

logger = logging.getLogger(__name__)

_open: dict[ComputeSettings, tuple[Executor, Callable[[], None]]] = {}


class InlineExecutor(Executor):
    """Runs each task at submission, in this process: the ``sequential`` backend."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 (handed to the caller through the future)
            future.set_exception(error)
        return future


@contextmanager
def open_executor(settings: ComputeSettings) -> Iterator[Executor]:
    """The executor of ``settings.backend``, started on first use and kept for the next
    stage; a failure inside the block closes it (no worker is left running a cancelled task)."""
    if settings.backend == "sequential":
        yield InlineExecutor()
        return
    if settings not in _open:
        close_executors()
        _open[settings] = _start(settings)
    try:
        yield _open[settings][0]
    except BaseException:
        close_executors()
        raise


def close_executors() -> None:
    """Shut down the pool or Dask client (and the local cluster) started here, if any."""
    while _open:
        _, (_, close) = _open.popitem()
        close()


atexit.register(close_executors)


def _start(settings: ComputeSettings) -> tuple[Executor, Callable[[], None]]:
    if settings.backend == "processes":
        pool = ProcessPoolExecutor(settings.n_workers, mp_context=multiprocessing.get_context("spawn"))
        logger.info("Process pool of %d workers x %d threads", settings.n_workers, settings.threads_per_worker)
        return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)
    from distributed import Client, LocalCluster

    if settings.scheduler_address is not None:
        client = Client(settings.scheduler_address, set_as_default=False)
        logger.info("Dask: connected to the scheduler at %s", settings.scheduler_address)
        return client.get_executor(pure=False), client.close
    cluster = LocalCluster(
        n_workers=settings.n_workers,
        threads_per_worker=settings.threads_per_worker,
        processes=True,
        dashboard_address=None,
    )
    client = Client(cluster, set_as_default=False)
    logger.info("Dask: local cluster of %d workers x %d threads", settings.n_workers, settings.threads_per_worker)

    def close() -> None:
        client.close()
        cluster.close()

    return client.get_executor(pure=False), close
