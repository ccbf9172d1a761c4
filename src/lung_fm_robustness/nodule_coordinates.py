"""The nodule list of a DICOM study: its validation and which nodules each patient brings.

One row per nodule: ``patient_id, coordX, coordY, coordZ`` (the centre in physical LPS
millimetres, as in the manifest), optionally ``nodule_id`` (default: 1, 2... per patient in
file order) and ``diameter_mm``. ``ingestion.nodule_selection`` keeps one nodule per patient
(``random``, seeded by ``ingestion.seed`` as in the original study, or ``largest``), or
``all`` of them, each nodule then being its own unit of analysis.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd

from lung_fm_robustness.manifest import COORDINATE_COLUMNS, ManifestError, require_columns

REQUIRED_COLUMNS = ("patient_id", *COORDINATE_COLUMNS)
OPTIONAL_COLUMNS = ("nodule_id", "diameter_mm")
SELECTIONS = ("random", "largest", "all")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _lines(frame: pd.DataFrame, mask) -> str:
    lines = frame.loc[np.asarray(mask), "line"].astype(str).tolist()
    return f"line{'s' if len(lines) > 1 else ''} {', '.join(lines[:10])}" + (
        f" and {len(lines) - 10} more" if len(lines) > 10 else ""
    )


def validate_nodules(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The nodule list with normalised types, a ``nodule_id`` and its CSV ``line``.

    Every error names ``source`` (the file), the CSV line(s) and the fix.
    """
    require_columns(frame, source, "The nodule list needs", REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    if frame.empty:
        raise ManifestError(f"{source}: the nodule list has no rows.")
    frame = frame.reset_index(drop=True).copy()
    frame["line"] = np.arange(len(frame)) + 2
    blank = frame["patient_id"].isna() | (frame["patient_id"].astype(str).str.strip() == "")
    if blank.any():
        raise ManifestError(f"{source}: empty 'patient_id' on {_lines(frame, blank)}.")
    frame["patient_id"] = frame["patient_id"].astype(str).str.strip()
    for column in (*COORDINATE_COLUMNS, "diameter_mm"):
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        bad = ~np.isfinite(values) if column != "diameter_mm" else frame[column].notna() & ~(values > 0)
        if bad.any():
            kind = (
                "a finite number (LPS mm)" if column != "diameter_mm" else "a positive number (mm) or empty"
            )
            raise ManifestError(
                f"{source}: '{column}' must be {kind}; {_lines(frame, bad)} hold "
                f"{frame.loc[np.asarray(bad), column].iloc[0]!r}."
            )
        frame[column] = values
    if "nodule_id" in frame.columns:
        blank = frame["nodule_id"].isna() | (frame["nodule_id"].astype(str).str.strip() == "")
        if blank.any():
            raise ManifestError(
                f"{source}: empty 'nodule_id' on {_lines(frame, blank)}; fill it or drop the column."
            )
        frame["nodule_id"] = frame["nodule_id"].astype(str).str.strip()
    else:
        frame["nodule_id"] = (frame.groupby("patient_id").cumcount() + 1).astype(str)
    unsafe = ~frame["nodule_id"].str.match(_SAFE_ID)
    if unsafe.any():
        raise ManifestError(
            f"{source}: 'nodule_id' on {_lines(frame, unsafe)} must use only letters, digits, '.', "
            f"'_' and '-' (it names output files), got {frame.loc[unsafe, 'nodule_id'].iloc[0]!r}."
        )
    for columns, what in (
        (["patient_id", "nodule_id"], "the same patient and nodule_id"),
        (["patient_id", *COORDINATE_COLUMNS], "the same patient and coordinates"),
    ):
        repeated = frame.duplicated(columns, keep=False)
        if repeated.any():
            raise ManifestError(
                f"{source}: {_lines(frame, repeated)} repeat {what}; keep one row per nodule."
            )
    return frame


def select_nodules(nodules: pd.DataFrame, selection: str, seed: int, source: str) -> pd.DataFrame:
    """The nodules analysed: one per patient (``random``, ``largest``) or ``all``."""
    if selection not in SELECTIONS:
        raise ValueError(
            f"ingestion.nodule_selection must be one of {', '.join(SELECTIONS)}, got {selection!r}."
        )
    if selection == "all":
        return nodules.reset_index(drop=True)
    if selection == "largest":
        if "diameter_mm" not in nodules.columns:
            raise ManifestError(
                f"{source}: ingestion.nodule_selection 'largest' needs a 'diameter_mm' column; add "
                "it, or choose 'random' or 'all'."
            )
        several = nodules.groupby("patient_id")["patient_id"].transform("size") > 1
        unknown = several & nodules["diameter_mm"].isna()
        if unknown.any():
            raise ManifestError(
                f"{source}: empty 'diameter_mm' on {_lines(nodules, unknown)}, for a patient with "
                "several nodules: 'largest' cannot choose."
            )
        order = nodules.sort_values(["diameter_mm", "line"], ascending=[False, True], kind="stable")
        return order.drop_duplicates("patient_id").sort_values("line").reset_index(drop=True)
    chosen = [
        group.index[_patient_rng(seed, patient).integers(len(group))]
        for patient, group in nodules.groupby("patient_id", sort=False)
    ]
    return nodules.loc[chosen].sort_values("line").reset_index(drop=True)


def _patient_rng(seed: int, patient_id: str) -> np.random.Generator:
    """A patient's own stream: its choice does not depend on the other patients listed."""
    return np.random.default_rng([int(seed), zlib.crc32(patient_id.encode("utf-8"))])
