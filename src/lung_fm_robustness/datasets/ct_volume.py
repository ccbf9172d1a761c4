"""A CT volume (or mask) on disk, read and written with SimpleITK.

Kedro-datasets has no medical-image dataset; this one keeps the full geometry (origin,
spacing, direction) that the FMCIB crop and the PyRadiomics resampling depend on.

A volume can also be read in parts: its header alone, then a box of voxels. ITK streams
the box from uncompressed .mha/.mhd and .nii (only the box is read from disk) and from
compressed .mha (decompressed as far as needed); .nii.gz is decompressed up to the box;
NRRD is read whole by ITK. In every case only the box is kept in memory.

A DICOM series is a folder and a ``series_uid`` (a folder may hold several series): pass
both, and the series is read with GDCM (see ``lung_fm_robustness.dicom.series_reading``);
a ``series_uid`` that is not a string (None, or NaN from a table) means a volume file.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import SimpleITK as sitk
from kedro.io import AbstractDataset, DatasetError

from lung_fm_robustness.datasets.atomic import atomic_path
from lung_fm_robustness.dicom import series_reading

SUPPORTED_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def volume_suffix(path: str | os.PathLike) -> str:
    """The volume format suffix of ``path``; an error names the path and the formats."""
    name = str(path).lower()
    for suffix in SUPPORTED_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise DatasetError(
        f"'{path}' is not a supported volume file: use one of {', '.join(SUPPORTED_SUFFIXES)}."
    )


def read_volume(path: str | os.PathLike, series_uid: str | None = None) -> sitk.Image:
    """Read one volume (or the DICOM series ``series_uid`` in the folder ``path``); a
    missing or unreadable file is an error naming it."""
    if isinstance(series_uid, str):
        return series_reading.read_series(path, series_uid)
    path = _existing_volume(path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise DatasetError(f"SimpleITK cannot read '{path}': {err}".strip()) from err


def read_volume_header(
    path: str | os.PathLike, series_uid: str | None = None
) -> sitk.ImageFileReader | series_reading.SeriesHeader:
    """The volume's header without its voxels: a reader that has read the image information
    (``GetSize``, ``GetSpacing``, ``GetOrigin``, ``GetDirection``, ``GetPixelID``...), or
    for a DICOM series a ``SeriesHeader`` with the same getters."""
    if isinstance(series_uid, str):
        return series_reading.read_series_header(path, series_uid)
    path = _existing_volume(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise DatasetError(f"SimpleITK cannot read the header of '{path}': {err}".strip()) from err
    return reader


def read_volume_region(
    path: str | os.PathLike, start: Sequence[int], size: Sequence[int], series_uid: str | None = None
) -> sitk.Image:
    """The voxels ``[start, start + size)`` (x, y, z indices) of a volume, as an image that
    keeps its place in the scan (origin at ``start``), reading as little as the format allows."""
    if isinstance(series_uid, str):
        return series_reading.read_series_region(path, series_uid, start, size)
    reader = read_volume_header(path)
    full = reader.GetSize()
    if len(start) != len(full) or len(size) != len(full) or any(
        a < 0 or n < 1 or a + n > m for a, n, m in zip(start, size, full)
    ):
        raise DatasetError(
            f"Box start {tuple(start)}, size {tuple(size)} is not inside '{path}', whose "
            f"size is {full}."
        )
    reader.SetExtractIndex([int(a) for a in start])
    reader.SetExtractSize([int(n) for n in size])
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise DatasetError(f"SimpleITK cannot read '{path}': {err}".strip()) from err


def _existing_volume(path: str | os.PathLike) -> Path:
    path = Path(path)
    volume_suffix(path)
    if not path.is_file():
        raise DatasetError(f"Volume file not found: '{path}'.")
    return path


def write_volume(image: sitk.Image, path: str | os.PathLike) -> None:
    """Write atomically (temporary file, then rename), so a reader never sees half a file.

    .nii.gz and .nrrd are compressed; .mha stays uncompressed for fast float cubes.
    """
    suffix = volume_suffix(path)
    with atomic_path(path, suffix) as tmp:
        sitk.WriteImage(image, tmp, useCompression=suffix in (".nii.gz", ".nrrd"))


class CTVolumeDataset(AbstractDataset[sitk.Image, sitk.Image]):
    """One ``SimpleITK.Image`` in a .nii.gz, .nii, .nrrd, .mha or .mhd file.

    Example catalog entry::

        fm_cubes:
          type: partitions.PartitionedDataset
          path: data/03_primary/fm_cubes
          dataset: lung_fm_robustness.datasets.CTVolumeDataset
          filename_suffix: .mha
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> sitk.Image:
        return read_volume(self._filepath)

    def save(self, data: sitk.Image) -> None:
        if not isinstance(data, sitk.Image):
            raise DatasetError(
                f"CTVolumeDataset('{self._filepath}') saves SimpleITK images, got {type(data).__name__}."
            )
        write_volume(data, self._filepath)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
