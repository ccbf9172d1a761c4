"""Walking a DICOM folder: series grouped and described, broken files and gaps reported."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from lung_fm_robustness.datasets import DicomFolderDataset, NoduleCsvDataset
from lung_fm_robustness.dicom.discovery import discover_series
from lung_fm_robustness.manifest import ManifestError
from tests.dicom.series_writer import ct_volume, write_series


def test_series_are_found_at_any_depth_with_their_tags(tmp_path):
    image = ct_volume(size=(16, 16, 5), spacing=(0.7, 0.7, 1.25))
    first = write_series(
        image, tmp_path / "a" / "b", patient_id="P7", manufacturer="GE MEDICAL SYSTEMS", kernel="LUNG"
    )
    second = write_series(image, tmp_path / "a" / "b", patient_id="P7", kernel="Br40d\\3", modality="MR")
    (tmp_path / "a" / "README.txt").write_text("not DICOM")
    (tmp_path / "DICOMDIR").write_bytes(bytes(128) + b"DICM")  # the media index, not an image
    inventory = discover_series(tmp_path)
    assert inventory.unreadable_files == ()
    found = {s.series_uid: s for s in inventory.series}
    assert set(found) == {first, second}
    ge = found[first]
    assert (ge.directory, ge.n_files, ge.patient_id, ge.modality) == (
        str(tmp_path / "a" / "b"),
        5,
        "P7",
        "CT",
    )
    assert (ge.manufacturer, ge.convolution_kernel, ge.slice_thickness_mm()) == (
        "GE MEDICAL SYSTEMS",
        "LUNG",
        1.25,
    )
    assert ge.header.GetSize() == (16, 16, 5) and not ge.uneven_spacing()
    assert found[second].modality == "MR" and found[second].convolution_kernel == "Br40d\\3"


def test_a_truncated_file_is_listed_and_its_series_shows_the_gap(tmp_path):
    uid = write_series(ct_volume(size=(16, 16, 6)), tmp_path)
    broken = tmp_path / f"{uid}_002.dcm"
    broken.write_bytes(broken.read_bytes()[:-300])
    inventory = discover_series(tmp_path)
    assert inventory.unreadable_files == (str(broken),)
    (series,) = inventory.series
    assert series.n_files == 5 and series.uneven_spacing()
    assert series.first_gap_mm == pytest.approx(1.0) and series.header.spacing[2] == pytest.approx(1.25)


def test_missing_folder_names_the_parameter(tmp_path):
    with pytest.raises(DatasetError, match=r"DICOM folder not found: '.*absent'\. Set ingestion\.dicom_root"):
        discover_series(tmp_path / "absent")


def test_folder_dataset_walks_only_when_asked_and_is_read_only(tmp_path):
    uid = write_series(ct_volume(size=(8, 8, 3)), tmp_path / "dicom")
    dataset = DicomFolderDataset(str(tmp_path / "dicom"))
    assert dataset.exists() and not DicomFolderDataset(str(tmp_path / "none")).exists()
    assert [s.series_uid for s in dataset.load().inventory().series] == [uid]
    DicomFolderDataset(str(tmp_path / "none")).load()  # nothing is read yet
    with pytest.raises(DatasetError, match="is read-only"):
        dataset.save("anything")


def test_nodule_list_dataset_round_trips_and_names_the_parameter_when_missing(tmp_path):
    dataset = NoduleCsvDataset(str(tmp_path / "nodules.csv"))
    dataset.save(pd.DataFrame({"patient_id": ["P1"], "coordX": [1.5], "coordY": [-2.0], "coordZ": [-90.0]}))
    table = dataset.load().read()
    assert table[["patient_id", "nodule_id", "coordX", "line"]].values.tolist() == [["P1", "1", 1.5, 2]]
    with pytest.raises(
        ManifestError, match=r"Nodule list not found: '.*none\.csv'\. Set ingestion\.nodules_csv"
    ):
        NoduleCsvDataset(str(tmp_path / "none.csv")).load().read()
