"""Executors, settings and the bounded map: every backend gives the same results, at most
``max_in_flight`` tasks are pending, a failing task is named, bad parameters are explained."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lung_fm_robustness.compute import ComputeSettings, bounded_map, open_executor
from lung_fm_robustness.compute.bounded_map import TaskError
from lung_fm_robustness.compute.executors import close_executors
from tests.compute.tasks import fail_on


def test_at_most_max_in_flight_tasks_are_pending():
    lock, running, peak = threading.Lock(), [0], [0]

    def work(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return x * x

    pulled = []

    def items():
        for i in range(40):
            pulled.append(i)
            yield str(i), (i,)

    with ThreadPoolExecutor(8) as pool:
        results = {}
        for key, value in bounded_map(pool, work, items(), max_in_flight=3):
            assert len(pulled) - len(results) <= 3  # never more than 3 submitted and uncollected
            results[key] = value
    assert results == {str(i): i * i for i in range(40)}
    assert 1 <= peak[0] <= 3


@pytest.mark.parametrize("backend", ["sequential", "processes"])
def test_a_failing_task_is_named(backend):
    settings = ComputeSettings.from_params({"backend": backend, "n_workers": 2})
    try:
        with pytest.raises(TaskError, match=r"'s3' failed: ValueError: bad input s3"), open_executor(settings) as ex:
            list(bounded_map(ex, fail_on, ((f"s{i}", (f"s{i}", "s3")) for i in range(6)), 2))
    finally:
        close_executors()


def test_settings_defaults_and_in_flight():
    assert ComputeSettings.from_params({}) == ComputeSettings("sequential", 2, 1, None, None)
    assert ComputeSettings.from_params({}).in_flight == 1
    assert ComputeSettings.from_params({"backend": "dask", "n_workers": 3}).in_flight == 6
    assert ComputeSettings.from_params({"backend": "processes", "max_in_flight": 5}).in_flight == 5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"backend": "spark"}, r"compute.backend must be one of sequential, processes, dask, got 'spark'"),
        ({"n_workers": 0}, r"compute.n_workers must be a positive integer, got 0"),
        ({"threads_per_worker": True}, r"compute.threads_per_worker must be a positive integer"),
        ({"backend": "processes", "scheduler_address": "tcp://h:8786"}, r"set compute.backend to dask"),
        ({"backend": "dask", "scheduler_address": ""}, r"compute.scheduler_address must be a Dask scheduler"),
        ({"workers": 2}, r"Unknown compute parameter\(s\) \['workers'\]"),
    ],
)
def test_bad_settings_say_which_parameter_and_how_to_fix(params, message):
    with pytest.raises(ValueError, match=message):
        ComputeSettings.from_params(params)
