"""A DICOM series read by header and by box agrees with the whole read, through ct_volume too."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from kedro.io import DatasetError

from lung_fm_robustness.datasets.ct_volume import read_volume, read_volume_header, read_volume_region
from lung_fm_robustness.dicom.series_reading import read_series, read_series_header, read_series_region
from tests.dicom.series_writer import ct_volume, write_series

C, S = np.cos(0.3), np.sin(0.3)
DIRECTIONS = {
    "axial": (1, 0, 0, 0, 1, 0, 0, 0, 1),
    "rotated": (C, -S, 0, S, C, 0, 0, 0, 1),
    "coronal": (1, 0, 0, 0, 0, 1, 0, -1, 0),
}


@pytest.fixture(params=list(DIRECTIONS))
def series(request, tmp_path):
    image = ct_volume(size=(24, 20, 12), spacing=(0.7, 0.8, 1.25), direction=DIRECTIONS[request.param])
    uid = write_series(image, tmp_path)
    return image, tmp_path, uid


def test_whole_read_gives_back_the_written_hu_and_geometry(series):
    image, folder, uid = series
    read = read_series(folder, uid)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read), sitk.GetArrayFromImage(image))
    np.testing.assert_allclose(read.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(read.GetSpacing(), image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(read.GetDirection(), image.GetDirection(), atol=1e-6)


def test_header_from_two_slices_is_the_whole_reads_geometry(series):
    _, folder, uid = series
    whole, header = read_series(folder, uid), read_series_header(folder, uid)
    assert header.GetSize() == whole.GetSize() and header.GetPixelID() == whole.GetPixelID()
    np.testing.assert_allclose(header.GetOrigin(), whole.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(header.GetSpacing(), whole.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(header.GetDirection(), whole.GetDirection(), atol=1e-9)


@pytest.mark.parametrize(
    "start, size", [((3, 4, 0), (10, 9, 1)), ((0, 0, 11), (24, 20, 1)), ((5, 5, 4), (4, 4, 6))]
)
def test_box_is_the_whole_reads_box_in_place(series, start, size):
    _, folder, uid = series
    box, expected = (
        read_series_region(folder, uid, start, size),
        sitk.RegionOfInterest(read_series(folder, uid), size, start),
    )
    np.testing.assert_array_equal(sitk.GetArrayFromImage(box), sitk.GetArrayFromImage(expected))
    np.testing.assert_allclose(box.GetOrigin(), expected.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(box.GetSpacing(), expected.GetSpacing(), atol=1e-9)


def test_ct_volume_reads_a_series_given_its_folder_and_uid(tmp_path):
    uid = write_series(ct_volume(size=(16, 16, 6)), tmp_path)
    whole = read_volume(tmp_path, series_uid=uid)
    assert read_volume_header(tmp_path, series_uid=uid).GetSize() == whole.GetSize() == (16, 16, 6)
    box = read_volume_region(tmp_path, (2, 3, 4), (5, 5, 2), series_uid=uid)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(box), sitk.GetArrayFromImage(whole)[4:6, 3:8, 2:7])


def test_a_uid_that_is_not_a_string_reads_the_volume_file(tmp_path, ct_with_sphere):
    image, _ = ct_with_sphere
    sitk.WriteImage(image, str(tmp_path / "scan.nrrd"))
    for missing in (None, float("nan")):
        assert read_volume(tmp_path / "scan.nrrd", series_uid=missing).GetSize() == image.GetSize()
        assert read_volume_header(tmp_path / "scan.nrrd", series_uid=missing).GetSize() == image.GetSize()


def test_unknown_series_and_box_outside_name_folder_and_uid(tmp_path):
    uid = write_series(ct_volume(size=(8, 8, 3)), tmp_path)
    with pytest.raises(
        DatasetError, match=r"No readable DICOM series '1\.2\.3' in '.*': were its files moved"
    ):
        read_series(tmp_path, "1.2.3")
    with pytest.raises(
        DatasetError, match=rf"Box start \(0, 0, 2\), size \(8, 8, 2\) is not inside DICOM series '{uid}'"
    ):
        read_series_region(tmp_path, uid, (0, 0, 2), (8, 8, 2))
    with pytest.raises(DatasetError, match="DICOM folder not found"):
        read_series(tmp_path / "gone", uid)
