"""One DICOM series (a folder and a SeriesInstanceUID) read whole, by header, or by box.

The scan table names a DICOM scan by its folder (``image_path``) and ``series_uid``, since a
folder may hold several series. The header is computed from two slice headers the way ITK's
ImageSeriesReader computes the volume's geometry (origin of the first slice in GDCM's
order, slice spacing from the first and last positions), so a header and a box agree with a
whole read without reading every slice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from kedro.io import DatasetError

from lung_fm_robustness.dicom.locale_guard import keep_locale


def series_files(directory: str | os.PathLike, series_uid: str) -> tuple[str, ...]:
    """The series' slice files in GDCM's order (along the slice normal)."""
    if not os.path.isdir(directory):
        raise DatasetError(f"DICOM folder not found: '{directory}'.")
    with keep_locale():
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), str(series_uid))
    if not files:
        raise DatasetError(
            f"No readable DICOM series '{series_uid}' in '{directory}': were its files moved, "
            "or is the scan table from another archive? Re-run the ingestion pipeline."
        )
    return tuple(files)


@dataclass(frozen=True)
class SeriesHeader:
    """A series' 3D geometry without its voxels.

    It answers the getters of ``sitk.Image`` that geometry code calls (``GetSize``,
    ``GetSpacing``, ``GetOrigin``, ``GetDirection``, ``GetDimension``,
    ``GetNumberOfComponentsPerPixel``, ``GetPixelID``), so it stands in for a header read.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    pixel_id: int

    def GetSize(self) -> tuple[int, int, int]:  # noqa: N802 - SimpleITK's spelling
        return self.size

    def GetSpacing(self) -> tuple[float, float, float]:  # noqa: N802
        return self.spacing

    def GetOrigin(self) -> tuple[float, float, float]:  # noqa: N802
        return self.origin

    def GetDirection(self) -> tuple[float, ...]:  # noqa: N802
        return self.direction

    def GetDimension(self) -> int:  # noqa: N802
        return 3

    def GetNumberOfComponentsPerPixel(self) -> int:  # noqa: N802
        return 1

    def GetPixelID(self) -> int:  # noqa: N802
        return self.pixel_id


def slice_header(path: str) -> sitk.ImageFileReader:
    """The header (and tags) of one DICOM file; an unreadable file is an error naming it."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    with keep_locale():
        try:
            reader.ReadImageInformation()
        except RuntimeError as err:
            raise DatasetError(f"SimpleITK cannot read the DICOM header of '{path}': {err}".strip()) from err
    return reader


def header_of_files(files: Sequence[str]) -> SeriesHeader:
    """The geometry ImageSeriesReader gives ``files``, from the first and last headers."""
    first = slice_header(files[0])
    origin = np.array(first.GetOrigin(), dtype=float)
    spacing = list(first.GetSpacing())
    if len(files) > 1:
        last = np.array(slice_header(files[-1]).GetOrigin(), dtype=float)
        step = float(np.linalg.norm(last - origin)) / (len(files) - 1)
        if step > 0:
            spacing[2] = step
    columns, rows = first.GetSize()[:2]
    return SeriesHeader(
        size=(int(columns), int(rows), len(files)),
        spacing=tuple(float(s) for s in spacing),
        origin=tuple(float(o) for o in origin),
        direction=tuple(float(d) for d in first.GetDirection()),
        pixel_id=first.GetPixelID(),
    )


def read_series_header(directory: str | os.PathLike, series_uid: str) -> SeriesHeader:
    """The series' geometry from two slice headers, no voxels read."""
    return header_of_files(series_files(directory, series_uid))


def read_files(files: Sequence[str], name: str) -> sitk.Image:
    """Slices ``files`` as one volume; an unreadable file is an error naming ``name``."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(files))
    with keep_locale():
        try:
            return reader.Execute()
        except RuntimeError as err:
            raise DatasetError(f"SimpleITK cannot read the DICOM series {name}: {err}".strip()) from err


def read_series(directory: str | os.PathLike, series_uid: str) -> sitk.Image:
    """The whole series as one volume (rescaled to HU by GDCM)."""
    return read_files(series_files(directory, series_uid), f"'{series_uid}' in '{directory}'")


def read_series_region(
    directory: str | os.PathLike, series_uid: str, start: Sequence[int], size: Sequence[int]
) -> sitk.Image:
    """The voxels ``[start, start + size)`` (x, y, z) of a series, reading only the slices the
    box spans (two at least, so the slice spacing is the series' own)."""
    files = series_files(directory, series_uid)
    full = header_of_files(files).size
    if (
        len(start) != 3
        or len(size) != 3
        or any(a < 0 or n < 1 or a + n > m for a, n, m in zip(start, size, full))
    ):
        raise DatasetError(
            f"Box start {tuple(start)}, size {tuple(size)} is not inside DICOM series "
            f"'{series_uid}' in '{directory}', whose size is {full}."
        )
    first = min(int(start[2]), max(len(files) - 2, 0))
    last = max(int(start[2]) + int(size[2]), min(first + 2, len(files)))
    slab = read_files(files[first:last], f"'{series_uid}' in '{directory}'")
    index = [int(start[0]), int(start[1]), int(start[2]) - first]
    return sitk.RegionOfInterest(slab, [int(n) for n in size], index)
