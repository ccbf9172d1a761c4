"""Per-batch FM work, run by any compute backend: a fixed batch of cubes in, one feature
row per scan out.

Each worker process builds (or loads) the network once and keeps it. Batches are fixed
chunks of the scan table, the same whatever the backend, and torch runs with the same
thread count in every worker slot: batch composition and thread count both change float32
rounding (~1e-5), so fixing them makes features bit-identical across backends.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch

from lung_fm_robustness.fm.network import (
    N_FEATURES,
    extract_features,
    fold_batch_norm_,
    load_fm_extractor,
)

FEATURE_NAMES = tuple(f"fm_{i:04d}" for i in range(N_FEATURES))


@lru_cache(maxsize=1)
def _network(weights_path: str | None, seed: int) -> torch.nn.Module:
    """This process's network (BatchNorm folded), built on first use and kept."""
    model, _ = load_fm_extractor(weights_path, seed=seed)
    return fold_batch_norm_(model)


def fm_feature_batch(
    cubes: Sequence[tuple[str, Callable[[], sitk.Image]]],
    weights_path: str | None,
    seed: int,
    threads: int,
) -> dict[str, pd.Series]:
    """``{scan_id: 4,096 float32 features}`` of one batch, in one forward pass."""
    torch.set_num_threads(threads)
    arrays = np.stack([sitk.GetArrayFromImage(load()) for _, load in cubes])
    values = extract_features(_network(weights_path, seed), arrays, batch_size=len(cubes))
    return {scan: pd.Series(row, index=FEATURE_NAMES) for (scan, _), row in zip(cubes, values)}
