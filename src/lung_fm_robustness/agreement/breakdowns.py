"""Where agreement is lost: per feature class, and by kernel versus slice thickness.

A study-level mean hides whether texture classes fail while first-order features hold, and
whether the kernel or the slice thickness does the damage; these two tables say it.
"""

import pandas as pd

from .feature_classes import class_rank
from .study import CONDITION_COLUMNS, Condition, study_order, summarise_agreement

KERNEL_THICKNESS_COLUMNS = (
    "extractor",
    "varied",
    "kernel",
    "slice_thickness_mm",
    "is_reference",
    "mean_ccc",
    "pct_strong",
    "mean_ccc_range",
)


def agreement_by_feature_class(per_feature: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """CCC summary per extractor, feature class and condition.

    Returns:
        The columns of :func:`~.study.summarise_agreement` with ``feature_class`` after
        ``extractor``: n_features, n_undefined, mean_ccc, median_ccc, pct_strong, threshold.
        Classes in PyRadiomics' order (``fm`` first), conditions in the study's order.
    """
    table = summarise_agreement(per_feature, threshold, by=["feature_class"])
    keys = [
        (extractor, class_rank(feature_class), study_order(Condition(kernel, thickness)))
        for extractor, feature_class, kernel, thickness in zip(
            table["extractor"], table["feature_class"], table["kernel"], table["slice_thickness_mm"]
        )
    ]
    return _in_order(table, keys)


def kernel_thickness_effects(summary: pd.DataFrame, reference: Condition) -> pd.DataFrame:
    """Mean CCC by kernel at each fixed slice thickness, and by thickness at each fixed kernel.

    The reference condition is included with mean CCC 1 and 100 % strong (every feature agrees
    perfectly with itself; ``is_reference`` marks it), so that, e.g., the thickness effect at the
    reference kernel is visible.

    Returns:
        Columns ``KERNEL_THICKNESS_COLUMNS``, per extractor first the kernel groups, then the
        thickness groups. ``varied`` ("kernel" or "slice_thickness_mm") names the factor that
        varies within a group; the other factor is held at the row's value. ``mean_ccc_range``:
        max - min of mean_ccc over the group, the size of that factor's effect at that fixed
        level (NaN for a group of one condition).
    """
    grid = summary[["extractor", *CONDITION_COLUMNS, "mean_ccc", "pct_strong"]].assign(is_reference=False)
    reference_rows = pd.DataFrame(
        {
            "extractor": sorted(set(summary["extractor"])),
            "kernel": reference.kernel,
            "slice_thickness_mm": reference.slice_thickness_mm,
            "mean_ccc": 1.0,
            "pct_strong": 100.0,
            "is_reference": True,
        }
    )
    grid = pd.concat([grid, reference_rows], ignore_index=True)
    blocks = []
    for varied, fixed in (("kernel", "slice_thickness_mm"), ("slice_thickness_mm", "kernel")):
        groups = grid.groupby(["extractor", fixed])["mean_ccc"]
        spread = groups.transform("max") - groups.transform("min")
        blocks.append(
            grid.assign(varied=varied, mean_ccc_range=spread.where(groups.transform("size") > 1))
        )
    table = pd.concat(blocks, ignore_index=True)
    keys = []
    for row in table.itertuples(index=False):
        kernel_first = row.varied == "kernel"
        condition = study_order(Condition(row.kernel, row.slice_thickness_mm))
        # Within a group the varied factor changes fastest.
        fixed_level = condition[2] if kernel_first else condition[:2]
        varied_level = condition[:2] if kernel_first else condition[2]
        keys.append((row.extractor, not kernel_first, fixed_level, varied_level))
    return _in_order(table, keys)[list(KERNEL_THICKNESS_COLUMNS)]


def _in_order(table: pd.DataFrame, keys: list[tuple]) -> pd.DataFrame:
    """Rows of ``table`` sorted by their ``keys``."""
    order = sorted(range(len(table)), key=keys.__getitem__)
    return table.iloc[order].reset_index(drop=True)
