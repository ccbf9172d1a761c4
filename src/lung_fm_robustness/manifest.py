"""The scan manifest: the one table format through which every scan enters the study.

Users write it for their own scans; the phantom writes it for its simulated ones. One row
per reconstructed scan: ``patient_id, kernel, slice_thickness_mm, image_path, coordX,
coordY, coordZ`` and optionally ``mask_path``. Coordinates are the nodule centre in
physical LPS millimetres (the FMCIB and DICOM/ITK convention). Paths are relative to the
manifest's folder unless absolute.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = (
    "patient_id",
    "kernel",
    "slice_thickness_mm",
    "image_path",
    "coordX",
    "coordY",
    "coordZ",
)
OPTIONAL_COLUMNS = ("mask_path",)
COORDINATE_COLUMNS = ("coordX", "coordY", "coordZ")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ManifestError(ValueError):
    """A manifest that cannot be used as it is; the message says where and how to fix it."""


def scan_id(patient_id: str, kernel: str, slice_thickness_mm: float) -> str:
    """The identifier of one reconstruction, also its file stem in every partitioned output."""
    return f"{patient_id}_{kernel}_{float(slice_thickness_mm):.1f}mm"


def _row_numbers(frame: pd.DataFrame, mask: pd.Series) -> str:
    """CSV line numbers (header is line 1) of the rows selected by ``mask``."""
    lines = [str(i + 2) for i in np.flatnonzero(mask.to_numpy())]
    shown = ", ".join(lines[:10]) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
    return f"line{'s' if len(lines) > 1 else ''} {shown}"


def require_columns(
    frame: pd.DataFrame, source: str, needs: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    """A user table lacking a required column is an error listing what it needs and has."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{source}: missing column(s) {', '.join(missing)}. {needs} "
            f"{', '.join(required)} (optional: {', '.join(optional)}); "
            f"found {', '.join(map(str, frame.columns))}."
        )


def validate_manifest(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check a raw manifest and return it with normalised types.

    Every error names ``source`` (the manifest file), the offending CSV line(s) and the fix.
    """
    require_columns(frame, source, "A manifest needs the columns", REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    if frame.empty:
        raise ManifestError(f"{source}: the manifest has no rows.")
    frame = frame.copy()
    for column in ("patient_id", "kernel", "image_path"):
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if blank.any():
            raise ManifestError(f"{source}: empty '{column}' on {_row_numbers(frame, blank)}.")
        frame[column] = frame[column].astype(str).str.strip()
    for column in ("patient_id", "kernel"):
        unsafe = ~frame[column].str.match(_SAFE_ID)
        if unsafe.any():
            raise ManifestError(
                f"{source}: '{column}' on {_row_numbers(frame, unsafe)} must use only letters, "
                f"digits, '.', '_' and '-' (it names output files), got "
                f"{frame.loc[unsafe, column].iloc[0]!r}."
            )
    for column in ("slice_thickness_mm", *COORDINATE_COLUMNS):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if column == "slice_thickness_mm":
            bad |= values <= 0
        if bad.any():
            kind = "a positive number" if column == "slice_thickness_mm" else "a finite number (LPS mm)"
            raise ManifestError(
                f"{source}: '{column}' must be {kind}; {_row_numbers(frame, bad)} "
                f"hold {frame.loc[bad, column].iloc[0]!r}."
            )
        frame[column] = values.astype(float)
    if "mask_path" in frame.columns:
        frame["mask_path"] = frame["mask_path"].where(frame["mask_path"].notna(), None)
        frame["mask_path"] = [
            None if pd.isna(p) or str(p).strip() == "" else str(p).strip() for p in frame["mask_path"]
        ]
    else:
        frame["mask_path"] = None
    duplicated = frame.duplicated(["patient_id", "kernel", "slice_thickness_mm"], keep=False)
    if duplicated.any():
        raise ManifestError(
            f"{source}: {_row_numbers(frame, duplicated)} repeat the same patient, kernel and "
            "slice thickness; keep one row per reconstruction (one nodule per scan)."
        )
    return frame.reset_index(drop=True)
