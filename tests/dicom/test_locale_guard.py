"""GDCM switches the process locale to "C"; every DICOM call of ours puts it back."""

from __future__ import annotations

import locale

import pytest
import SimpleITK as sitk

from lung_fm_robustness.dicom.locale_guard import keep_locale
from lung_fm_robustness.dicom.series_reading import read_series
from tests.dicom.series_writer import ct_volume, write_series


@pytest.fixture
def utf8_locale():
    """Python's start-up locale on a UTF-8 system (only LC_CTYPE from the environment, here
    C.UTF-8), and the caller's back afterwards."""
    saved = locale.setlocale(locale.LC_ALL)
    locale.setlocale(locale.LC_ALL, "C")
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except locale.Error:
        pytest.skip("no C.UTF-8 locale on this machine")
    yield locale.setlocale(locale.LC_ALL)
    locale.setlocale(locale.LC_ALL, saved)


def test_gdcm_alone_leaves_the_c_locale_behind(tmp_path, utf8_locale):
    """The pitfall the guard exists for (if GDCM stops doing this, the guard is harmless)."""
    slice_ = ct_volume(size=(8, 8, 1))[:, :, 0]
    slice_.SetMetaData("0020|0032", "-12.5\\4\\-100")  # GDCM parses the position's decimals
    sitk.WriteImage(slice_, str(tmp_path / "slice.dcm"))
    assert locale.setlocale(locale.LC_ALL) == "C"


def test_writing_a_series_keeps_the_locale(tmp_path, utf8_locale):
    write_series(ct_volume(size=(8, 8, 3)), tmp_path)
    assert locale.setlocale(locale.LC_ALL) == utf8_locale


def test_reading_a_series_keeps_the_locale_and_text_files_stay_utf8(tmp_path, utf8_locale):
    uid = write_series(ct_volume(size=(8, 8, 3)), tmp_path / "series")
    read_series(tmp_path / "series", uid)
    assert locale.setlocale(locale.LC_ALL) == utf8_locale
    with open(tmp_path / "table.md", "w") as handle:  # the locale's default encoding
        handle.write("CCC ≥ 0.9")


def test_the_locale_comes_back_when_the_block_raises(utf8_locale):
    with pytest.raises(RuntimeError), keep_locale():
        locale.setlocale(locale.LC_ALL, "C")
        raise RuntimeError("GDCM failed")
    assert locale.setlocale(locale.LC_ALL) == utf8_locale
