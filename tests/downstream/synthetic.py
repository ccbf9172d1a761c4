"""Synthetic feature tables: one row per patient and condition, id columns as the extractors write."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lung_fm_robustness.features import ID_COLUMNS

CONDITIONS = [("smooth", 1.0), ("medium", 1.0), ("medium", 2.0), ("sharp", 2.0)]


def feature_frame(base: np.ndarray, shifts: dict[tuple[str, float], float] | None = None, noise: float = 0.0,
                  seed: int = 0) -> pd.DataFrame:
    """``base`` (patients x features) under every condition, plus a per-condition constant shift
    and independent noise."""
    rng = np.random.default_rng(seed)
    shifts = shifts or {}
    rows = []
    for kernel, thickness in CONDITIONS:
        values = base + shifts.get((kernel, thickness), 0.0) + noise * rng.normal(size=base.shape)
        ids = {
            "scan_id": [f"P{i:03d}_{kernel}_{thickness}" for i in range(len(base))],
            "patient_id": [f"P{i:03d}" for i in range(len(base))],
            "kernel": kernel,
            "slice_thickness_mm": thickness,
        }
        frame = pd.DataFrame({c: ids[c] for c in ID_COLUMNS if c in ids})
        rows.append(pd.concat([frame, pd.DataFrame(values, columns=[f"f{j:03d}" for j in range(base.shape[1])])], axis=1))
    return pd.concat(rows, ignore_index=True)
