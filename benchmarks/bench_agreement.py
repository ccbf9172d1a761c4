"""Time the bootstrap of the study's agreement summaries at the study's full size.

    KEDRO_DISABLE_TELEMETRY=1 python benchmarks/bench_agreement.py [--metrics ccc icc3_1 icc2_1]

Synthetic feature tables shaped like the study's: 59 patients under the reference and 5 test
conditions, 4,096 FM and 93 radiomics features (4,189 in all), each test value a noisy, shifted,
rescaled copy of the reference value, a few features constant as the FM's dead channels are.
Times pairing and per-feature agreement (``per_feature_ccc``), then the bootstrap intervals
(``bootstrap_summary_intervals``) with ``--resamples`` resamples; the target is at most 10 s for
the bootstrap of CCC with 1,000 resamples on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from lung_fm_robustness.agreement.bootstrap import bootstrap_summary_intervals
from lung_fm_robustness.agreement.study import Condition, pair_conditions, per_feature_ccc

REFERENCE = Condition("medium", 1.0)
CONDITIONS = [Condition(k, t) for k in ("smooth", "medium", "sharp") for t in (1.0, 2.0)]
EXTRACTORS = {"fm": [f"fm_{i:04d}" for i in range(4096)]}
RADIOMICS_CLASSES = {"firstorder": 18, "glcm": 24, "glrlm": 16, "glszm": 16, "gldm": 14, "ngtdm": 5}
EXTRACTORS["radiomics"] = [
    f"original_{feature_class}_Feature{i}"
    for feature_class, count in RADIOMICS_CLASSES.items()
    for i in range(count)
]


def synthetic_table(names: list[str], n_patients: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per patient and condition; 2 % of the features constant (dead channels)."""
    n_features = len(names)
    truth = rng.lognormal(0.0, 1.0, n_features) * rng.normal(size=(n_patients, n_features))
    truth[:, rng.random(n_features) < 0.02] = 0.0
    blocks = []
    for condition in CONDITIONS:
        noise = 0.0 if condition == REFERENCE else rng.uniform(0.05, 0.6)
        values = truth * rng.uniform(0.9, 1.1, n_features) + rng.normal(0, noise, truth.shape) * truth.std(axis=0)
        ids = pd.DataFrame(
            {
                "patient_id": [f"P{i:03d}" for i in range(n_patients)],
                "kernel": condition.kernel,
                "slice_thickness_mm": condition.slice_thickness_mm,
            }
        )
        blocks.append(pd.concat([ids, pd.DataFrame(values, columns=names)], axis=1))
    return pd.concat(blocks, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=59)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--metrics", nargs="+", default=["ccc"], help="ccc, icc3_1, icc2_1")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many bootstrap runs")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    tables = {name: synthetic_table(features, args.patients, rng) for name, features in EXTRACTORS.items()}
    n_features = sum(len(features) for features in EXTRACTORS.values())

    start = time.perf_counter()
    pairings = {name: pair_conditions(table, REFERENCE, extractor=name) for name, table in tables.items()}
    per_feature = pd.concat(
        [per_feature_ccc(table, REFERENCE, name, coefficients=args.metrics) for name, table in tables.items()],
        ignore_index=True,
    )
    estimate_seconds = time.perf_counter() - start

    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        summary = bootstrap_summary_intervals(
            pairings, per_feature, args.metrics, 0.9, confidence=0.95, n_resamples=args.resamples, seed=0
        )
        timings.append(time.perf_counter() - start)

    print(
        f"{n_features} features x {len(CONDITIONS) - 1} conditions x {args.patients} patients, "
        f"metrics {', '.join(args.metrics)}"
    )
    print(f"pairing + per-feature agreement: {estimate_seconds:.2f} s")
    print(
        f"bootstrap, {args.resamples} resamples: best {min(timings):.2f} s of {args.repeat} "
        f"({', '.join(f'{t:.2f}' for t in timings)} s)"
    )
    columns = ["extractor", "kernel", "slice_thickness_mm", "metric", "mean", "mean_ci_low", "mean_ci_high"]
    print(summary[columns].to_string(index=False, float_format="{:.4f}".format))


if __name__ == "__main__":
    main()
