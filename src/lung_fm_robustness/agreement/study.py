"""Per-feature agreement of every reconstruction condition with the reference, and its summaries.

A feature table holds one row per scan and nodule. Agreement is scored over analysis units: the
nodule (patient_id, nodule_id) when the table has a nodule_id, the patient otherwise (phantom and
manifest scans, or tables written before nodule_id was an id column). The scans of two conditions
are matched on the unit, never on row order, and a unit that cannot be paired is named, never
dropped silently.
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
    "n_units",
    "feature_class",
    *INFERENCE_COLUMNS[1:],
    "mcbride_band",
)  # then one column per additional coefficient (icc3_1, icc2_1) when asked for
SUMMARY_KEYS = ["extractor", *CONDITION_COLUMNS]
UNIT_LEVELS = ("patient_id", "nodule_id")  # a unit's key; nodule_id "" when the unit is the patient
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
    """One test condition's scans matched to the reference scans of the same units (patients, or
    nodules when the table has a nodule_id)."""

    reference: np.ndarray  # (n, F) reference values
    test: np.ndarray  # (n, F) test values; row i is the same unit as in ``reference``
    features: list[str]
    # The patient of each row, rows sorted by patient then nodule_id: with several nodules of one
    # patient the patient repeats, which is what the patient-level bootstrap resamples.
    patients: list[str]

    @property
    def n_units(self) -> int:
        """Units paired: rows of the matrices."""
        return len(self.patients)

    @property
    def n_patients(self) -> int:
        """Distinct patients among the paired units."""
        return len(set(self.patients))


def pair_conditions(
    features: pd.DataFrame,
    reference: Condition,
    *,
    extractor: str = "features",
    allow_missing_patients: bool = False,
) -> dict[Condition, PairedCondition]:
    """Reference and test feature matrices of every non-reference condition, paired by unit.

    Args:
        features: one row per scan, the ``ID_COLUMNS`` (``scan_id`` optional; ``nodule_id``
            optional, None/NaN where the unit is the patient) as columns or index levels, every
            other column a numeric feature.
        reference: the condition every other condition is compared with.
        extractor: name of the table in error messages, e.g. "fm".
        allow_missing_patients: pair only the units (patients, or nodules) scanned under both
            conditions instead of raising when a unit lacks one; the excluded units are logged
            and listed by :func:`unpaired_patients`.

    Returns:
        ``{condition: PairedCondition}`` in sorted condition order; row i of both matrices is
        the same unit (sorted by patient_id, then nodule_id).

    Raises:
        ValueError: malformed table, duplicate (unit, condition) rows, no reference scans, no
            condition besides the reference, or (unless ``allow_missing_patients``) a unit
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
                f"The {extractor!r} feature table cannot pair every {_unit_word(unpaired)} with "
                f"the reference {reference.label}:\n{listing}\nFix: extract the missing scans, "
                f"drop these {_unit_word(unpaired)}s from the table, or pass "
                "allow_missing_patients=True (agreement.allow_missing_patients) to pair only the "
                "units scanned under both conditions (n_units and n_patients then record how many)."
            )
        logger.warning(
            "%s: units excluded from pairing with the reference %s:\n%s",
            extractor,
            reference.label,
            listing,
        )

    reference_rows = by_condition[reference]
    paired = {}
    for condition, rows in sorted(by_condition.items()):
        if condition == reference:
            continue
        units = reference_rows.index.intersection(rows.index).sort_values()
        paired[condition] = PairedCondition(
            values[reference_rows.loc[units].to_numpy()],
            values[rows.loc[units].to_numpy()],
            list(feature_names),
            [str(patient) for patient in units.get_level_values("patient_id")],
        )
    return paired


def unpaired_patients(
    features: pd.DataFrame, reference: Condition, *, extractor: str = "features"
) -> pd.DataFrame:
    """Units (patients, or nodules) that cannot be paired with the reference, to record next to
    the results.

    Returns:
        Columns ``kernel``, ``slice_thickness_mm`` (the test condition), ``patient_id``,
        ``nodule_id`` (None where the unit is the patient) and ``missing`` ("reference" or
        "condition": which of the two scans the unit lacks).
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
        that condition), n_units (units paired: nodules when the table has a nodule_id, else
        equal to n_patients), feature_class (see :func:`feature_classes`), the columns of
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
                "n_patients": pair.n_patients,
                "n_units": pair.n_units,
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
        Per condition, the row of each unit's scan (a Series indexed by ``UNIT_LEVELS``: the
        patient_id and the nodule_id, "" where the unit is the patient); the (scans, F) float64
        feature matrix those rows index (NaN for missing values); the feature names. One matrix
        conversion up front keeps pairing fast on 4,000+ feature columns.
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
    ids.insert(1, "nodule_id", _nodule_ids(features))
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
    _reject_duplicate_units(ids, extractor)

    values = features[feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
    rows = ids.assign(row=np.arange(len(ids)))
    by_condition = {
        Condition(kernel, thickness): group.set_index(list(UNIT_LEVELS))["row"]
        for (kernel, thickness), group in rows.groupby(CONDITION_COLUMNS, sort=True)
    }
    return by_condition, values, feature_names


def _nodule_ids(features: pd.DataFrame) -> np.ndarray:
    """Each row's nodule_id as text, "" where there is none (no column, None or NaN)."""
    if "nodule_id" not in features.columns:
        return np.full(len(features), "", dtype=object)
    column = features["nodule_id"]
    return np.array(["" if pd.isna(v) else str(v) for v in column], dtype=object)


def _reject_duplicate_units(ids: pd.DataFrame, extractor: str) -> None:
    """Two scans of one unit under one condition cannot be paired: name them and the fix."""
    key = [*UNIT_LEVELS, *CONDITION_COLUMNS]
    duplicated = ids[ids.duplicated(key, keep=False)]
    if duplicated.empty:
        return
    counts = duplicated.groupby(key, sort=True).size()
    listing = "; ".join(
        f"{_unit_label(patient, nodule)} {Condition(kernel, thickness).label} ({n} rows)"
        for (patient, nodule, kernel, thickness), n in counts.head(10).items()
    )
    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
    has_nodules = bool((ids["nodule_id"] != "").any())
    what = "(patient, nodule, condition)" if has_nodules else "(patient, condition)"
    hint = (
        ""
        if has_nodules
        else " If these are several nodules of one patient, every row needs its nodule_id: "
        "feature tables written before nodule_id was an id column lack it, so run the "
        "fm_features and radiomics_features pipelines again."
    )
    raise ValueError(
        f"The {extractor!r} feature table has {len(counts)} duplicate {what} scans: "
        f"{listing}{more}. Fix: keep one scan per unit and condition (e.g. drop repeated "
        f"extractions by scan_id) before computing agreement.{hint}"
    )


def _unit_label(patient: object, nodule: str) -> str:
    """How messages name a unit: "P01", or "P01 nodule 2"."""
    return f"{patient} nodule {nodule}" if nodule else str(patient)


def _population(pair: PairedCondition) -> str:
    """"59 patients", or "24 nodules of 8 patients"."""
    if pair.n_units == pair.n_patients:
        return f"{pair.n_patients} patients"
    return f"{pair.n_units} nodules of {pair.n_patients} patients"


def _unit_word(unpaired: pd.DataFrame) -> str:
    """"nodule" when the units are nodules, else "patient"."""
    return "nodule" if unpaired["nodule_id"].notna().any() else "patient"


def _unpaired(by_condition: dict[Condition, pd.Series], reference: Condition) -> pd.DataFrame:
    """Units of each test condition lacking either scan of the pair (see unpaired_patients)."""
    reference_units = set(by_condition[reference].index) if reference in by_condition else set()
    records = []
    for condition, rows in sorted(by_condition.items()):
        if condition == reference:
            continue
        units = set(rows.index)
        for missing, lacking in (
            ("reference", units - reference_units),
            ("condition", reference_units - units),
        ):
            records += [
                (condition.kernel, condition.slice_thickness_mm, patient, nodule or None, missing)
                for patient, nodule in sorted(lacking)
            ]
    return pd.DataFrame(
        records, columns=["kernel", "slice_thickness_mm", "patient_id", "nodule_id", "missing"]
    ).astype({"slice_thickness_mm": np.float64, "nodule_id": object})


def _describe_unpaired(unpaired: pd.DataFrame) -> str:
    """One line per test condition naming the units that lack either scan."""
    word = _unit_word(unpaired)
    lines = []
    for (kernel, thickness), rows in unpaired.groupby(CONDITION_COLUMNS, sort=True):
        label = Condition(kernel, thickness).label
        parts = []
        descriptions = (("condition", f"no {label} scan"), ("reference", "no reference scan"))
        for missing, text in descriptions:
            chosen = rows[rows["missing"] == missing]
            units = [_unit_label(p, n or "") for p, n in zip(chosen["patient_id"], chosen["nodule_id"])]
            if units:
                parts.append(f"{text} for {len(units)} {word}(s): {', '.join(units)}")
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
        "%s %s vs %s: %d of %d features have undefined CCC over %s "
        "(%d with NaN/inf values%s; the rest constant in both conditions or too few patients)",
        extractor,
        condition.label,
        reference.label,
        undefined.sum(),
        len(pair.features),
        _population(pair),
        non_finite.sum(),
        f", e.g. {examples}" if examples else "",
    )
