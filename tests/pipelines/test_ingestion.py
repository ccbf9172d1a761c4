"""Ingestion nodes: source selection, the phantom's manifest in the user format, registration."""
from __future__ import annotations

import pytest
import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_manifest import ManifestSource
from lung_fm_robustness.manifest import REQUIRED_COLUMNS
from lung_fm_robustness.phantom.study import DEFAULT_PARAMS
from lung_fm_robustness.pipelines.ingestion.nodes import register_scans, simulate_phantom_study

LAYOUT = {"images": "images", "masks": "masks", "suffix": ".nii.gz"}


def _ingestion(source: str, n_patients: int = 2) -> dict:
    return {"source": source, "manifest_path": None, "phantom_layout": LAYOUT, "phantom": {**DEFAULT_PARAMS, "n_patients": n_patients}}


def test_unknown_source_names_the_parameter_and_choices():
    with pytest.raises(ValueError, match="ingestion.source must be one of phantom, manifest, got 'dicom'"):
        simulate_phantom_study(_ingestion("dicom"))


def test_manifest_source_simulates_nothing():
    images, masks, manifest, truth = simulate_phantom_study(_ingestion("manifest"))
    assert images == {} and masks == {} and manifest.empty and truth.empty
    assert set(REQUIRED_COLUMNS) <= set(manifest.columns)


def test_phantom_writes_the_user_manifest_format_and_registers_every_scan(tmp_path):
    images, masks, manifest, truth = simulate_phantom_study(_ingestion("phantom"))
    assert len(images) == len(masks) == len(manifest) == 2 * 3 * 2
    assert list(truth["patient_id"]) == ["PH001", "PH002"]
    assert manifest.loc[0, "image_path"] == "images/PH001_smooth_1.0mm.nii.gz"
    # the seed of every scan of a patient is the nodule centre of its ground truth
    first = manifest[manifest["patient_id"] == "PH001"]
    assert first[["coordX", "coordY", "coordZ"]].nunique().max() == 1
    assert first.iloc[0]["coordX"] == pytest.approx(truth.loc[0, "centre_x_mm"])
    for folder, volumes in (("images", images), ("masks", masks)):
        (tmp_path / folder).mkdir()
        for key in list(volumes)[:1]:
            sitk.WriteImage(volumes[key](), str(tmp_path / folder / f"{key}.nii.gz"))
    manifest.iloc[:1].to_csv(tmp_path / "manifest.csv", index=False)
    scans = register_scans(ManifestSource(tmp_path / "manifest.csv"), ManifestSource(tmp_path / "none.csv"), _ingestion("phantom"))
    assert list(scans["scan_id"]) == ["PH001_smooth_1.0mm"] and (scans["source"] == "phantom").all()


def test_manifest_source_reads_the_input_manifest(tmp_path):
    with pytest.raises(ValueError, match=r"Manifest not found: '.*none\.csv'. Set ingestion.manifest_path"):
        register_scans(ManifestSource(tmp_path / "p.csv"), ManifestSource(tmp_path / "none.csv"), _ingestion("manifest"))
