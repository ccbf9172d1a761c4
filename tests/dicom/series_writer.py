"""Real DICOM CT series on disk for the tests, written slice by slice with SimpleITK."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from lung_fm_robustness.dicom.locale_guard import keep_locale

_UIDS = itertools.count(1)
UID_ROOT = "1.2.826.0.1.3680043.2.1125.7"


def ct_volume(
    size=(32, 32, 20),
    spacing=(0.8, 0.8, 1.0),
    origin=(-12.0, -14.0, -100.0),
    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
    nodules=(((0.0, 0.0, -90.0), 6.0),),
    seed: int = 0,
) -> sitk.Image:
    """Lung-like int16 HU (-850 +- 20) with solid spheres ((centre LPS mm, diameter mm), 40 HU)."""
    rng = np.random.default_rng(seed)
    hu = rng.normal(-850.0, 20.0, size[::-1])
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    index = np.indices(size[::-1]).reshape(3, -1)[::-1].T  # x, y, z per voxel
    points = np.array(origin) + (index * spacing) @ np.array(direction).reshape(3, 3).T
    for centre, diameter in nodules:
        inside = (np.linalg.norm(points - centre, axis=1) <= diameter / 2).reshape(size[::-1])
        hu[inside] = 40.0
    array = np.round(hu).astype(np.int16)
    result = sitk.GetImageFromArray(array)
    result.CopyInformation(image)
    return result


def write_series(
    image: sitk.Image,
    folder: Path,
    *,
    patient_id: str = "P1",
    manufacturer: str = "SIEMENS",
    kernel: str = "B45f",
    thickness: float | str | None = None,
    modality: str = "CT",
    rescale: bool = True,
    series_uid: str | None = None,
) -> str:
    """One file per slice with the tags ingestion reads; returns the SeriesInstanceUID.

    ``thickness`` is the SliceThickness (default: the slice spacing; "" leaves the tag out).

    With ``rescale`` the files store HU + 1024 with RescaleIntercept -1024 (as scanners do);
    without, they store HU + 1024 and no rescale tags: what a lost rescale looks like.
    """
    folder.mkdir(parents=True, exist_ok=True)
    number = next(_UIDS)
    uid = series_uid or f"{UID_ROOT}.{number}.2"
    direction = np.array(image.GetDirection()).reshape(3, 3)
    orientation = "\\".join(f"{v:.10f}" for v in np.concatenate([direction[:, 0], direction[:, 1]]))
    thickness = image.GetSpacing()[2] if thickness is None else thickness
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    with keep_locale():
        for k in range(image.GetDepth()):
            slice_ = image[:, :, k]
            if not rescale:
                slice_ = sitk.Cast(slice_ + 1024, sitk.sitkUInt16)  # raw scanner values
            position = image.TransformIndexToPhysicalPoint((0, 0, k))
            tags = {
                "0008|0016": "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4",
                "0008|0018": f"{uid}.{k + 1}",
                "0008|0060": modality,
                "0008|0070": manufacturer,
                "0010|0020": patient_id,
                "0018|1210": kernel,
                "0020|000d": f"{UID_ROOT}.{number}.1",
                "0020|000e": uid,
                "0020|0013": str(k + 1),
                "0020|0032": "\\".join(f"{v:.6f}" for v in position),
                "0020|0037": orientation,
            }
            if rescale:
                tags.update({"0028|1052": "-1024", "0028|1053": "1"})
            if thickness != "":
                tags["0018|0050"] = f"{thickness:g}"
            for tag, value in tags.items():
                slice_.SetMetaData(tag, value)
            writer.SetFileName(str(folder / f"{uid}_{k:03d}.dcm"))
            writer.Execute(slice_)
    return uid
