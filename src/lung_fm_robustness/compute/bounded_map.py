"""Map over many tasks with a bounded number in flight, results as they complete.

Submitting a whole cohort at once would hold every pending argument and every finished
result at the same time; here at most ``max_in_flight`` are, whatever the cohort size.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any


class TaskError(RuntimeError):
    """A task failed; the message names its key (e.g. the scan)."""


def bounded_map(
    executor: Executor,
    fn: Callable[..., Any],
    items: Iterable[tuple[str, tuple]],
    max_in_flight: int,
) -> Iterator[tuple[str, Any]]:
    """``(key, fn(*args))`` for each ``(key, args)`` in ``items``, in completion order.

    A failing task cancels those not started and raises ``TaskError`` naming its key; the
    results already yielded stay valid (their partitions are saved).
    """
    pending: dict[Future, str] = {}
    items = iter(items)
    exhausted = False
    try:
        while pending or not exhausted:
            while not exhausted and len(pending) < max_in_flight:
                item = next(items, None)
                if item is None:
                    exhausted = True
                    break
                key, args = item
                pending[executor.submit(fn, *args)] = key
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                error = future.exception()
                if error is not None:
                    raise TaskError(f"'{key}' failed: {type(error).__name__}: {error}") from error
                yield key, future.result()
    finally:
        for future in pending:
            future.cancel()
