"""Progress of per-scan work: periodic "n / N scans" lines (or patients, batches) and a
one-line summary.

Per-scan work often runs lazily while a partitioned dataset saves, so the counter lives with
the work items rather than in a loop.
"""
from __future__ import annotations

import logging
import time


class ScanProgress:
    """Counts finished work items (``unit``: scans, patients, batches) of one stage and logs
    about every tenth of the way."""

    def __init__(self, stage: str, total: int, logger: logging.Logger, unit: str = "scans") -> None:
        self.stage, self.total, self.logger, self.unit = stage, total, logger, unit
        self.done = 0
        self._start = time.perf_counter()
        self._every = max(1, total // 10)

    def step(self) -> None:
        """Record one finished scan; log progress, and the summary after the last one."""
        self.done += 1
        if self.done == self.total:
            self.logger.info(self.summary())
        elif self.done % self._every == 0:
            self.logger.info("%s: %d / %d %s", self.stage, self.done, self.total, self.unit)

    def summary(self) -> str:
        seconds = time.perf_counter() - self._start
        # A failing scan raises and stops the run, so a summary is only ever of a clean stage.
        return f"{self.stage}: {self.done} / {self.total} {self.unit} done in {seconds:.1f} s, none failed"
