"""Per-feature agreement of every reconstruction condition with the reference, and its summaries.

A feature table holds one row per scan. Agreement is scored over patients, so the scans of two
conditions are matched on patient_id, never on row order, and a patient who cannot be paired is
named, never dropped silently.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from lung_fm_robustness.agreement.ccc import INFERENCE_COLUMNS, lin_ccc_inference, mcbride_band
from lung_fm_robustness.agreement.coefficients import COEFFICIENTS
from lung_fm_robustness.agreement.feature_classes import feature_classes
from lung_fm_robustness.agreement.moments import paired_moments
from lung_fm_robustness.features import ID_COLUMNS

logger = logging.getLogger(__name__)

CONDITION_COLUMNS = ["kernel", "slice_thickness_mm"]
KERNEL_ORDER = ("smooth", "medium", "sharp")
PER_FEATURE_COLUMNS = (
    "extractor",
    "kernel",
    "slice_thickness_mm",
    "feature",
    "ccc",
    "n_patients",
    "feature_class",
    *INFERENCE_COLUMNS[1:],
    "mcbride_band",
)  # then one column per additional coefficient (icc3_1, icc2_1) when asked for
SUMMARY_KEYS = ["extractor", *CONDITION_COLUMNS]
SUMMARY_COLUMNS = (
    "extractor",
    "kernel",
    "slice_thickness_mm",
    "n_features",
    "n_undefined",
    "mean_ccc",
    "median_ccc",
    "pct_strong",
    "threshold",
)


@dataclass(frozen=True, order=True)
class Condition:
    """One reconstruction setting; hashable and ordered so it can key and sort results."""

    kernel: str
    slice_thickness_mm: float

    def __post_init__(self) -> None:
        # 1, 1.0 and a numpy float read from parquet must all name the same condition.
        object.__setattr__(self, "slice_thickness_mm", float(self.slice_thickness_mm))

    @property
    def label(self) -> str:
        """Short name, e.g. "medium_1.0", used in messages and metric keys."""
        return f"{self.kernel}_{self.slice_thickness_mm:.1f}"


def study_order(condition: Condition) -> tuple[int, str, float]:
    """Sort key of conditions in the study's order: kernels smooth, medium, sharp (others after,
    by name), then slice thickness."""
    known = KERNEL_ORDER.index(condition.kernel) if condition.kernel in KERNEL_ORDER else len(KERNEL_ORDER)
    return known, condition.kernel, condition.slice_thickness_mm


class PairedCondition(NamedTuple):
    """One test condition's scans matched to the reference scans of the same patients."""

    reference: np.ndarray  # (n, F) reference values
    test: np.ndarray  # (n, F) test values; row i is the same patient as in ``reference``
    features: list[str]
    patients: list[str]  # sorted; row i of both matrices


def pair_conditions(
    features: pd.DataFrame,
    reference: Condition,
    *,
    extractor: str = "features",
    allow_missing_patients: bool = False,
) -> dict[Condition, PairedCondition]:
    """Reference and test feature matrices of every non-reference condition, paired by patient.

    Args:
        features: one row per scan, the ``ID_COLUMNS`` (``scan_id`` optional) as columns or
            index levels, every other column a numeric feature.
        reference: the condition every other condition is compared with.
        extractor: name of the table in error messages, e.g. "fm".
        allow_missing_patients: pair only the patients scanned under both conditions instead of
            raising when a patient lacks one; the excluded patients are logged and listed by
            :func:`unpaired_patients`.

    Returns:
        ``{condition: PairedCondition}`` in sorted condition order; row i of both matrices is
        the same patient (patients sorted by id).

    Raises:
        ValueError: malformed table, duplicate (patient, condition) rows, no reference scans, no
            condition besides the reference, or (unless ``allow_missing_patients``) a patient
            missing under the reference or a test condition.
    """
    by_condition, values, feature_names = _scan_rows(features, extractor)
    if reference not in by_condition:
        present = ", ".join(c.label for c in sorted(by_condition))
        raise ValueError(
            f"The {extractor!r} feature table has no scans for the reference condition "
            f"{reference.label} (kernel={reference.kernel!r}, "
            f"slice_thickness_mm={reference.slice_thickness_mm}). Conditions present: {present}. "
            "Fix: set the reference condition to one of these, or check the kernel and slice "
            "thickness values the extractor wrote."
        )
    if len(by_condition) == 1:
        raise ValueError(
            f"The {extractor!r} feature table only has scans for the reference condition "
            f"{reference.label}: there is nothing to compare it with. Fix: extract features for "
            "the other reconstructions."
        )

    unpaired = _unpaired(by_condition, reference)
    if not unpaired.empty:
        listing = _describe_unpaired(unpaired)
        if not allow_missing_patients:
            raise ValueError(
                f"The {extractor!r} feature table cannot pair every patient with the reference "
                f"{reference.label}:\n{listing}\nFix: extract the missing scans, drop these "
                "patients from the table, or pass allow_missing_patients=True to pair only the "
                "patients scanned under both conditions (n_patients then records how many)."
            )
        logger.warning(
            "%s: patients excluded from pairing with the reference %s:\n%s",
            extractor,
            reference.label,
            listing,
        )

    reference_rows = by_condition[reference]
    paired = {}
    for condition, rows in sorted(by_condition.items()):
        if condition == reference:
            continue
        patients = reference_rows.index.intersection(rows.index).sort_values()
        paired[condition] = PairedCondition(
            values[reference_rows.loc[patients].to_numpy()],
            values[rows.loc[patients].to_numpy()],
            list(feature_names),
            [str(patient) for patient in patients],
        )
    return paired


def unpaired_patients(
    features: pd.DataFrame, reference: Condition, *, extractor: str = "features"
) -> pd.DataFrame:
    """Patients that cannot be paired with the reference, to record next to the results.

    Returns:
        Columns ``kernel``, ``slice_thickness_mm`` (the test condition), ``patient_id`` and
        ``missing`` ("reference" or "condition": which of the two scans the patient lacks).
    """
    by_condition, _, _ = _scan_rows(features, extractor)
    return _unpaired(by_condition, reference)


def per_feature_ccc(
    features: pd.DataFrame,
    reference: Condition,
    extractor: str,
    *,
    allow_missing_patients: bool = False,
    confidence: float = 0.95,
    coefficients: Sequence[str] = ("ccc",),
) -> pd.DataFrame:
    """Lin's CCC of every feature under every non-reference condition against the reference,
    with its confidence interval and parts, and any further coefficient asked for.

    Returns:
        Long table with columns ``PER_FEATURE_COLUMNS``: extractor, kernel, slice_thickness_mm,
        feature, ccc (NaN where undefined, see :func:`lin_ccc`), n_patients (patients paired for
        that condition), feature_class (see :func:`feature_classes`), the columns of
        :func:`lin_ccc_inference` at ``confidence``, mcbride_band (see :func:`mcbride_band`);
        then one column per coefficient of ``coefficients`` other than ccc (e.g. icc3_1).
    """
    extra = [name for name in coefficients if name != "ccc"]
    paired = pair_conditions(
        features, reference, extractor=extractor, allow_missing_patients=allow_missing_patients
    )
    blocks = []
    for condition, pair in paired.items():
        inference = lin_ccc_inference(pair.reference, pair.test, confidence)
        _log_undefined(extractor, condition, reference, pair, inference["ccc"].to_numpy())
        moments = paired_moments(pair.reference, pair.test) if extra else None
        block = pd.DataFrame(
            {
                "extractor": extractor,
                "kernel": condition.kernel,
                "slice_thickness_mm": condition.slice_thickness_mm,
                "feature": pair.features,
                "ccc": inference["ccc"],
                "n_patients": len(pair.patients),
                "feature_class": feature_classes(extractor, pair.features),
                **{column: inference[column] for column in INFERENCE_COLUMNS[1:]},
                "mcbride_band": mcbride_band(inference["ccc"]),
                **{name: COEFFICIENTS[name](moments) for name in extra},
            }
        )
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def summarise_coefficient(
    per_feature: pd.DataFrame, column: str, threshold: float, keys: Sequence[str] = SUMMARY_KEYS
) -> pd.DataFrame:
    """Per group of ``keys``: n_features, n_undefined, and over the defined values of ``column``
    their mean, median and pct_strong (100 * share >= threshold), NaN when none is defined.
    Sorted by ``keys``."""
    missing = [c for c in [*keys, column] if c not in per_feature.columns]
    if missing:
        raise ValueError(f"per_feature lacks the columns {missing}; expected {PER_FEATURE_COLUMNS}")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a coefficient in [-1, 1], got {threshold!r}")
    values = per_feature[column].astype(np.float64)
    groups = per_feature[list(keys)].assign(
        value=values, undefined=values.isna(), strong=values >= threshold
    )
    grouped = groups.groupby(list(keys), sort=True, dropna=False)
    summary = pd.DataFrame(
        {
            "n_features": grouped.size(),
            "n_undefined": grouped["undefined"].sum(),
            "mean": grouped["value"].mean(),
            "median": grouped["value"].median(),
        }
    )
    n_defined = summary["n_features"] - summary["n_undefined"]
    summary["pct_strong"] = (100.0 * grouped["strong"].sum() / n_defined).where(n_defined > 0)
    return summary.reset_index().astype({"n_features": "int64", "n_undefined": "int64"})


def summarise_agreement(
    per_feature: pd.DataFrame, threshold: float, *, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Study-level CCC agreement per extractor and condition (and per ``by`` column, e.g.
    feature_class, placed after extractor).

    Args:
        per_feature: output of :func:`per_feature_ccc` (one or several extractors concatenated).
        threshold: CCC at or above which a feature agrees strongly (0.9 in the study).
        by: further grouping columns of ``per_feature``.

    Returns:
        Columns ``SUMMARY_COLUMNS`` (with ``by`` after extractor), sorted by them.
        ``n_features`` counts every feature, ``n_undefined`` those with undefined CCC;
        ``mean_ccc``, ``median_ccc`` and ``pct_strong`` (100 * share with ccc >= threshold) are
        over the defined features only, NaN when none is defined.
    """
    keys = ["extractor", *by, *CONDITION_COLUMNS]
    summary = summarise_coefficient(per_feature, "ccc", threshold, keys)
    summary = summary.rename(columns={"mean": "mean_ccc", "median": "median_ccc"})
    summary["threshold"] = float(threshold)
    return summary[[*keys, *SUMMARY_COLUMNS[3:]]]


def _scan_rows(
    features: pd.DataFrame, extractor: str
) -> tuple[dict[Condition, pd.Series], np.ndarray, list[str]]:
    """Validate the table and split it for pairing.

    Returns:
        Per condition, the row of each patient's scan (a Series indexed by patient_id); the
        (scans, F) float64 feature matrix those rows index (NaN for missing values); the feature
        names. One matrix conversion up front keeps pairing fast on 4,000+ feature columns.
    """
    if any(name in ID_COLUMNS for name in features.index.names):
        features = features.reset_index()
    key = ["patient_id", *CONDITION_COLUMNS]
    missing = [c for c in key if c not in features.columns]
    if missing:
        raise ValueError(
            f"The {extractor!r} feature table lacks the id columns {missing}; "
            f"expected {list(ID_COLUMNS)} plus one column per feature."
        )
    ids = features[key].astype({"slice_thickness_mm": np.float64})
    if ids.isna().any().any():
        raise ValueError(
            f"The {extractor!r} feature table has missing values in its id columns {key}."
        )
    feature_names = [c for c in features.columns if c not in ID_COLUMNS]
    if not feature_names:
        raise ValueError(f"The {extractor!r} feature table has no feature columns.")
    dtypes = features[feature_names].dtypes
    not_numeric = [c for c, dtype in dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if not_numeric:
        raise ValueError(
            f"The {extractor!r} feature table has non-numeric feature columns {not_numeric[:10]}; "
            f"every column outside {list(ID_COLUMNS)} must be a feature."
        )

    duplicated = ids[ids.duplicated(keep=False)]
    if not duplicated.empty:
        counts = duplicated.groupby(key, sort=True).size()
        listing = "; ".join(
            f"{patient} {Condition(kernel, thickness).label} ({n} rows)"
            for (patient, kernel, thickness), n in counts.head(10).items()
        )
        more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
        raise ValueError(
            f"The {extractor!r} feature table has {len(counts)} duplicate (patient, condition) "
            f"scans: {listing}{more}. Fix: keep one scan per patient and condition (e.g. drop "
            "repeated extractions by scan_id) before computing agreement."
        )

    values = features[feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
    rows = ids.assign(row=np.arange(len(ids)))
    by_condition = {
        Condition(kernel, thickness): group.set_index("patient_id")["row"]
        for (kernel, thickness), group in rows.groupby(CONDITION_COLUMNS, sort=True)
    }
    return by_condition, values, feature_names


def _unpaired(by_condition: dict[Condition, pd.Series], reference: Condition) -> pd.DataFrame:
    """Patients of each test condition lacking either scan of the pair (see unpaired_patients)."""
    reference_patients = set(by_condition[reference].index) if reference in by_condition else set()
    records = []
    for condition, rows in sorted(by_condition.items()):
        if condition == reference:
            continue
        patients = set(rows.index)
        for missing, lacking in (
            ("reference", patients - reference_patients),
            ("condition", reference_patients - patients),
        ):
            records += [
                (condition.kernel, condition.slice_thickness_mm, patient, missing)
                for patient in sorted(lacking)
            ]
    return pd.DataFrame(
        records, columns=["kernel", "slice_thickness_mm", "patient_id", "missing"]
    ).astype({"slice_thickness_mm": np.float64})


def _describe_unpaired(unpaired: pd.DataFrame) -> str:
    """One line per test condition naming the patients that lack either scan."""
    lines = []
    for (kernel, thickness), rows in unpaired.groupby(CONDITION_COLUMNS, sort=True):
        label = Condition(kernel, thickness).label
        parts = []
        descriptions = (("condition", f"no {label} scan"), ("reference", "no reference scan"))
        for missing, text in descriptions:
            patients = [str(p) for p in rows.loc[rows["missing"] == missing, "patient_id"]]
            if patients:
                parts.append(f"{text} for {len(patients)} patient(s): {', '.join(patients)}")
        lines.append(f"  {label}: " + "; ".join(parts))
    return "\n".join(lines)


def _log_undefined(
    extractor: str, condition: Condition, reference: Condition, pair: PairedCondition, ccc: np.ndarray
) -> None:
    """Warn with counts when features have undefined CCC, naming those with NaN/inf values."""
    undefined = np.isnan(ccc)
    if not undefined.any():
        return
    non_finite = ~(np.isfinite(pair.reference).all(axis=0) & np.isfinite(pair.test).all(axis=0))
    examples = [name for name, bad in zip(pair.features, non_finite) if bad][:5]
    logger.warning(
        "%s %s vs %s: %d of %d features have undefined CCC over %d patients "
        "(%d with NaN/inf values%s; the rest constant in both conditions or too few patients)",
        extractor,
        condition.label,
        reference.label,
        undefined.sum(),
        len(pair.features),
        len(pair.patients),
        non_finite.sum(),
        f", e.g. {examples}" if examples else "",
    )
