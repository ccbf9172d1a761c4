"""Top-level tasks for the compute tests (worker processes import them by name)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd


def squares(key: str, value: int, calls: str, die_on: str | None = None) -> dict[str, pd.Series]:
    """``{key: [value, value**2]}``; leaves a marker per call in ``calls``; kills its own
    process (no cleanup, like ``kill -9``) when ``key == die_on``."""
    if key == die_on:
        os._exit(1)
    Path(calls, f"{key}.{os.getpid()}.{np.random.default_rng().integers(1 << 62)}").touch()
    return {key: pd.Series([float(value), float(value) ** 2], index=["value", "square"])}


def fail_on(key: str, bad: str) -> str:
    if key == bad:
        raise ValueError(f"bad input {key}")
    return key
