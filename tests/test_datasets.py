"""CT volume, manifest and scan-table datasets: round trips, atomic writes, clear errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from kedro.io import DatasetError

from lung_fm_robustness.datasets import (
    CTVolumeDataset,
    ScanManifestDataset,
    ScanTableDataset,
)
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.manifest import ManifestError


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_volume_round_trip_keeps_voxels_and_geometry(tmp_path, ct_with_sphere, suffix):
    image, _ = ct_with_sphere
    dataset = CTVolumeDataset(str(tmp_path / f"scan{suffix}"))
    assert not dataset.exists()
    dataset.save(image)
    loaded = dataset.load()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded), sitk.GetArrayFromImage(image))
    # NIfTI stores geometry as float32: ~1e-5 mm, never more.
    np.testing.assert_allclose(loaded.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(loaded.GetSpacing(), image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(loaded.GetDirection(), image.GetDirection(), atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f"scan{suffix}"]  # no temporary left


def test_volume_dataset_rejects_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"scan\.png.*\.nii\.gz"):
        CTVolumeDataset(str(tmp_path / "scan.png")).save(sitk.Image(4, 4, 4, sitk.sitkInt16))
    with pytest.raises(DatasetError, match="not found.*absent.nrrd"):
        CTVolumeDataset(str(tmp_path / "absent.nrrd")).load()


def _manifest_rows(folder: Path, image: sitk.Image) -> pd.DataFrame:
    (folder / "scans").mkdir()
    rows = []
    for patient in ("P1", "P2"):
        for kernel in ("medium", "sharp"):
            name = f"scans/{patient}_{kernel}.nrrd"
            sitk.WriteImage(image, str(folder / name))
            rows.append([patient, kernel, 1.0, name, 1.5, -2.5, -300.0])
    return pd.DataFrame(rows, columns=["patient_id", "kernel", "slice_thickness_mm", "image_path", "coordX", "coordY", "coordZ"])


def test_manifest_resolves_relative_paths_against_its_folder(tmp_path, ct_with_sphere):
    frame = _manifest_rows(tmp_path, ct_with_sphere[0])
    dataset = ScanManifestDataset(str(tmp_path / "manifest.csv"))
    dataset.save(frame)
    table = dataset.load().read()
    assert list(table["image_path"]) == [str(tmp_path / p) for p in frame["image_path"]]
    assert table["mask_path"].isna().all()
    assert table["coordZ"].dtype == float


def test_manifest_names_line_of_a_missing_image(tmp_path, ct_with_sphere):
    frame = _manifest_rows(tmp_path, ct_with_sphere[0])
    frame.loc[2, "image_path"] = "scans/gone.nrrd"
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(ManifestError, match=r"1 image_path file\(s\) not found, first on line 4: .*gone\.nrrd"):
        ScanManifestDataset(str(tmp_path / "manifest.csv")).load().read()


def test_missing_manifest_says_which_parameter_to_set(tmp_path):
    with pytest.raises(ManifestError, match="ingestion.manifest_path"):
        ScanManifestDataset(str(tmp_path / "none.csv")).load().read()


def test_scan_table_gives_volumes_by_scan_id(tmp_path, ct_with_sphere):
    image, mask = ct_with_sphere
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "a_mask.nrrd"))
    frame = pd.DataFrame(
        {"scan_id": ["A", "B"], "image_path": [str(tmp_path / "a.nrrd")] * 2, "mask_path": [str(tmp_path / "a_mask.nrrd"), None]}
    )
    dataset = ScanTableDataset(str(tmp_path / "scans.parquet"))
    dataset.save(frame)
    table = dataset.load()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(table.mask("A")), sitk.GetArrayFromImage(mask))
    assert table.image("B").GetSize() == image.GetSize()
    with pytest.raises(ValueError, match="'B' has no mask_path"):
        table.mask("B")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_scan_table_reads_a_header_then_a_box_of_voxels(tmp_path, ct_with_sphere, suffix):
    image, _ = ct_with_sphere
    path = tmp_path / f"a{suffix}"
    sitk.WriteImage(image, str(path))
    table = ScanTable(pd.DataFrame({"scan_id": ["A"], "image_path": [str(path)]}).set_index("scan_id", drop=False))
    full = table.image("A")
    header = table.image_header("A")
    assert header.GetSize() == full.GetSize() and header.GetPixelID() == full.GetPixelID()
    assert (header.GetOrigin(), header.GetSpacing(), header.GetDirection()) == (full.GetOrigin(), full.GetSpacing(), full.GetDirection())
    region = table.image_region("A", (3, 5, 7), (10, 11, 12))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(region), sitk.GetArrayFromImage(full)[7:19, 5:16, 3:13])
    np.testing.assert_allclose(region.GetOrigin(), full.TransformIndexToPhysicalPoint((3, 5, 7)), atol=1e-9)
    with pytest.raises(DatasetError, match=r"start \(60, 0, 0\), size \(10, 1, 1\) is not inside .*\(64, 64, 30\)"):
        table.image_region("A", (60, 0, 0), (10, 1, 1))
