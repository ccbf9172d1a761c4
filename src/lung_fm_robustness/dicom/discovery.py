"""Every DICOM series under a folder, with the tags ingestion needs, from a few headers.

GDCM groups each folder's files by SeriesInstanceUID and orders them along the slice normal,
reading only the tags it needs; then the first, second and last slice headers give the tags
and the geometry. A file that looks like DICOM but that GDCM cannot parse (e.g. truncated)
is left out of its series by GDCM; it is listed, never silently dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from kedro.io import DatasetError

from lung_fm_robustness.dicom.locale_guard import keep_locale
from lung_fm_robustness.dicom.series_reading import SeriesHeader, header_of_files, slice_header

TAGS = {
    "patient_id": "0010|0020",
    "modality": "0008|0060",
    "manufacturer": "0008|0070",
    "convolution_kernel": "0018|1210",
    "slice_thickness": "0018|0050",
}
# Relative difference between the first slice gap and the mean gap that reveals a missing
# slice (ITK's own "non uniform sampling" warning threshold is 1e-4 of the spacing).
SPACING_TOLERANCE = 0.01


@dataclass(frozen=True)
class DicomSeries:
    """One series: where it is, its tags (None when absent), its geometry, or why it is unusable."""

    directory: str
    series_uid: str
    n_files: int
    patient_id: str | None = None
    modality: str | None = None
    manufacturer: str | None = None
    convolution_kernel: str | None = None
    slice_thickness: str | None = None
    header: SeriesHeader | None = None
    first_gap_mm: float | None = None
    error: str | None = None

    @property
    def location(self) -> str:
        return f"series {self.series_uid} in {self.directory}"

    def slice_thickness_mm(self) -> float | None:
        """SliceThickness (0018,0050) as a number, None when absent or not a number."""
        try:
            value = float(self.slice_thickness)
        except (TypeError, ValueError):
            return None
        return value if np.isfinite(value) and value > 0 else None

    def uneven_spacing(self) -> bool:
        """Whether the slices are unevenly spaced (a missing slice, most often)."""
        mean = self.header.spacing[2]
        return self.first_gap_mm is not None and abs(self.first_gap_mm - mean) > SPACING_TOLERANCE * mean


@dataclass(frozen=True)
class SeriesInventory:
    """The series found under a folder, and the DICOM-looking files GDCM could not parse."""

    root: str
    series: tuple[DicomSeries, ...]
    unreadable_files: tuple[str, ...]


def looks_like_dicom(path: str) -> bool:
    """A .dcm name or the DICM preamble marker: a file meant to be an image (a DICOMDIR, the
    index of exported media, is not one)."""
    if os.path.basename(path).upper() == "DICOMDIR":
        return False
    if path.lower().endswith(".dcm"):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def discover_series(root: str | os.PathLike) -> SeriesInventory:
    """Walk ``root`` recursively (in sorted order) and describe every series in it."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"DICOM folder not found: '{root}'. Set ingestion.dicom_root to the folder of your "
            "DICOM series, or ingestion.source to 'phantom' or 'manifest'."
        )
    series, unreadable = [], []
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        if not names:
            continue
        with keep_locale():
            uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(directory)
        grouped = set()
        for uid in sorted(uids):
            with keep_locale():
                files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(directory, uid)
            grouped.update(os.path.normpath(f) for f in files)
            series.append(_describe(directory, uid, files))
        for name in sorted(names):
            path = os.path.normpath(os.path.join(directory, name))
            if path not in grouped and looks_like_dicom(path):
                unreadable.append(path)
    return SeriesInventory(str(root), tuple(series), tuple(unreadable))


def _describe(directory: str, uid: str, files: tuple[str, ...]) -> DicomSeries:
    try:
        first = slice_header(files[0])
        tags = {
            name: first.GetMetaData(tag).strip() if first.HasMetaDataKey(tag) else None
            for name, tag in TAGS.items()
        }
        header = header_of_files(files)
        gap = None
        if len(files) > 2:
            second = np.array(slice_header(files[1]).GetOrigin())
            gap = float(np.linalg.norm(second - np.array(header.origin)))
    except DatasetError as err:
        return DicomSeries(directory, uid, len(files), error=str(err))
    return DicomSeries(
        directory, uid, len(files), **{k: v or None for k, v in tags.items()}, header=header, first_gap_mm=gap
    )
