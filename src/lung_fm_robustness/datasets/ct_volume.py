"""A CT volume (or mask) on disk, read and written with SimpleITK.

Kedro-datasets has no medical-image dataset; this one keeps the full geometry (origin,
spacing, direction) that the FMCIB crop and the PyRadiomics resampling depend on.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import SimpleITK as sitk
from kedro.io import AbstractDataset, DatasetError

from lung_fm_robustness.datasets.atomic import atomic_path

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


def read_volume(path: str | os.PathLike) -> sitk.Image:
    """Read one volume; a missing or unreadable file is an error naming it."""
    path = Path(path)
    volume_suffix(path)
    if not path.is_file():
        raise DatasetError(f"Volume file not found: '{path}'.")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise DatasetError(f"SimpleITK cannot read '{path}': {err}".strip()) from err


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
