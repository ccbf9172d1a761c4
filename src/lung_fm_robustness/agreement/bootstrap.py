"""Bootstrap confidence intervals of the study-level summaries, resampling patients.

The independent unit of the study is the patient: a resample draws patients with replacement,
takes every paired unit of each drawn patient (its one scan pair, or all of its nodules when the
units are nodules: a cluster bootstrap, since nodules of one patient are not independent),
recomputes every feature's coefficient from those units and then the summary (mean, median,
% of features >= threshold). The intervals are percentile intervals over the resamples.

One draw of patients serves every extractor, condition and coefficient, so the intervals of
different conditions or extractors come from the same resamples. A feature undefined in the
full sample is undefined in every resample; a feature constant in both conditions over the
patients of one resample is undefined in that resample only, and is left out of that resample's
summaries, exactly as undefined features are left out of the estimate. How many features that
leaves out is reported (``undefined_per_resample_mean`` / ``_max``).
"""

from collections.abc import Sequence
from dataclasses import astuple

import numpy as np
import pandas as pd

from .coefficients import COEFFICIENTS
from .moments import resampled_moments
from .study import PER_FEATURE_COLUMNS, SUMMARY_KEYS, Condition, PairedCondition, summarise_coefficient

STATISTICS = ("mean", "median", "pct_strong")
SUMMARY_CI_COLUMNS = (
    *SUMMARY_KEYS,
    "metric",
    "n_features",
    "n_undefined",
    *(f"{stat}{part}" for stat in STATISTICS for part in ("", "_ci_low", "_ci_high")),
    "threshold",
    "confidence",
    "n_patients",
    "n_units",
    "n_resamples",
    "seed",
    "undefined_per_resample_mean",
    "undefined_per_resample_max",
)
# Resamples per matrix product: bounds the (resamples x 5 F) intermediate to ~32 MB.
_CHUNK_ELEMENTS = 1 << 22


def patient_resamples(patients: Sequence[str], n_resamples: int, seed: int) -> pd.DataFrame:
    """How often each patient is drawn in each resample: (n_resamples, patients) counts.

    Columns are the distinct patients in sorted order (a patient listed several times, once per
    nodule, is one column), so the same seed and patients give the same resamples whatever
    order the patients come in. ``counts[pair.patients]`` then gives every row of a pairing its
    patient's count: all nodules of a drawn patient enter the resample together.
    """
    ordered = sorted(set(patients))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(ordered), np.full(len(ordered), 1.0 / len(ordered)), size=n_resamples)
    return pd.DataFrame(counts, columns=ordered)


def resampled_summaries(
    counts: np.ndarray,
    pair: PairedCondition,
    defined: dict[str, np.ndarray],
    threshold: float,
) -> dict[str, dict[str, np.ndarray]]:
    """Every resample's summaries of one condition, for each coefficient of ``defined``.

    Args:
        counts: (B, n) draws of the rows of ``pair``, in its row order (each row weighted by
            how often its patient is drawn).
        pair: the condition's paired values.
        defined: per coefficient name, the (F,) mask of features defined in the full sample.
        threshold: the strong-agreement threshold.

    Returns:
        ``{coefficient: {"mean" | "median" | "pct_strong" | "n_undefined": (B,) array}}``.
    """
    n_resamples, n_features = counts.shape[0], len(pair.features)
    results = {
        name: {stat: np.empty(n_resamples) for stat in (*STATISTICS, "n_undefined")}
        for name in defined
    }
    chunk = max(1, _CHUNK_ELEMENTS // (5 * n_features))
    for start in range(0, n_resamples, chunk):
        rows = slice(start, start + chunk)
        moments = resampled_moments(counts[rows], pair.reference, pair.test)
        for name, mask in defined.items():
            values = np.where(mask, COEFFICIENTS[name](moments), np.nan)
            for stat, value in _row_summaries(values, threshold).items():
                results[name][stat][rows] = value
    return results


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the finite values
    (linear interpolation); NaN when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.nan, np.nan
    low, high = np.quantile(finite, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(low), float(high)


def bootstrap_summary_intervals(
    pairings: dict[str, dict[Condition, PairedCondition]],
    per_feature: pd.DataFrame,
    metrics: Sequence[str],
    threshold: float,
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """Estimate and bootstrap interval of every summary, per extractor, condition and coefficient.

    Args:
        pairings: per extractor, the output of :func:`~.study.pair_conditions`.
        per_feature: the per-feature table of the same data, with a column per coefficient of
            ``metrics``; it gives the estimates and which features are defined.
        metrics: coefficients to summarise, e.g. ("ccc", "icc3_1").
        threshold: the strong-agreement threshold.
        confidence, n_resamples, seed: the percentile interval's level, the number of resamples
            and the seed of the one draw of patients shared by everything. Each drawn patient
            brings all of its paired units (nodules) of the condition.

    Returns:
        Columns ``SUMMARY_CI_COLUMNS``, one row per extractor, condition and coefficient
        (``metric``). ``mean``, ``median``, ``pct_strong``, ``n_features`` and ``n_undefined``
        are the estimates, as in the summary table (for ccc: ``mean_ccc``, ``median_ccc``...);
        ``*_ci_low`` / ``*_ci_high`` their percentile intervals; ``n_patients`` and
        ``n_units`` the patients and units (nodules, or patients again) paired for the
        condition; ``undefined_per_resample_*`` the mean and largest number of features left
        out of a resample's summaries.
    """
    patients = [p for pairs in pairings.values() for pair in pairs.values() for p in pair.patients]
    counts = patient_resamples(patients, n_resamples, seed)
    estimates = {
        name: summarise_coefficient(per_feature, name, threshold).set_index(SUMMARY_KEYS) for name in metrics
    }
    rows = []
    for extractor, pairs in pairings.items():
        for condition, pair in pairs.items():
            features = _features_of(per_feature, extractor, condition).loc[pair.features]
            defined = {name: features[name].notna().to_numpy() for name in metrics}
            draws = counts[pair.patients].to_numpy()
            resamples = resampled_summaries(draws, pair, defined, threshold)
            for name in metrics:
                row = {
                    "extractor": extractor,
                    "kernel": condition.kernel,
                    "slice_thickness_mm": condition.slice_thickness_mm,
                    "metric": name,
                    **estimates[name].loc[(extractor, *astuple(condition))].to_dict(),
                    "threshold": threshold,
                    "confidence": confidence,
                    "n_patients": pair.n_patients,
                    "n_units": pair.n_units,
                    "n_resamples": n_resamples,
                    "seed": seed,
                    "undefined_per_resample_mean": resamples[name]["n_undefined"].mean(),
                    "undefined_per_resample_max": resamples[name]["n_undefined"].max(),
                }
                for stat in STATISTICS:
                    row[f"{stat}_ci_low"], row[f"{stat}_ci_high"] = percentile_interval(
                        resamples[name][stat], confidence
                    )
                rows.append(row)
    table = pd.DataFrame(rows, columns=list(SUMMARY_CI_COLUMNS))
    table["metric"] = pd.Categorical(table["metric"], categories=list(metrics), ordered=True)
    table = table.sort_values([*SUMMARY_KEYS, "metric"], ignore_index=True)
    counts_columns = ["n_features", "n_undefined", "undefined_per_resample_max"]
    return table.astype({"metric": str, **dict.fromkeys(counts_columns, "int64")})


def _features_of(per_feature: pd.DataFrame, extractor: str, condition: Condition) -> pd.DataFrame:
    """One extractor's and condition's rows of the per-feature table, indexed by feature."""
    rows = per_feature[
        (per_feature["extractor"] == extractor)
        & (per_feature["kernel"] == condition.kernel)
        & (per_feature["slice_thickness_mm"] == condition.slice_thickness_mm)
    ]
    if rows.empty:
        raise ValueError(
            f"per_feature has no rows for {extractor} {condition.label}; it must come from the "
            f"same feature tables and parameters (columns {PER_FEATURE_COLUMNS[:6]})."
        )
    return rows.set_index("feature")


def _row_summaries(values: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Mean, median, % >= threshold and undefined count of each row's defined (non-NaN) values."""
    n_defined = np.count_nonzero(~np.isnan(values), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n_defined > 0, np.nansum(values, axis=1) / n_defined, np.nan)
        pct_strong = np.where(n_defined > 0, 100.0 * np.sum(values >= threshold, axis=1) / n_defined, np.nan)
    ordered = np.sort(values, axis=1)  # NaN sort last
    lower = np.take_along_axis(ordered, np.maximum(n_defined - 1, 0)[:, None] // 2, axis=1)[:, 0]
    upper = np.take_along_axis(ordered, (n_defined // 2)[:, None], axis=1)[:, 0]
    median = np.where(n_defined > 0, (lower + upper) / 2.0, np.nan)
    return {"mean": mean, "median": median, "pct_strong": pct_strong, "n_undefined": values.shape[1] - n_defined}
