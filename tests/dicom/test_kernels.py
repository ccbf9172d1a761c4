"""Kernel classes from the vendor table in conf: the reference note's examples, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lung_fm_robustness.dicom.kernels import KernelClassifier

TABLE = yaml.safe_load((Path(__file__).parents[2] / "conf/base/parameters_dicom_kernels.yml").read_text())[
    "kernel_classes"
]


@pytest.mark.parametrize(
    "manufacturer, kernel, expected",
    [
        ("SIEMENS", "B30f", "smooth"), ("SIEMENS", "B10f", "smooth"), ("Siemens Healthineers", "Br36d", "smooth"),
        ("SIEMENS", "B45f", "medium"), ("SIEMENS", "B35s", "medium"), ("SIEMENS", "Br40d\\3", "medium"),
        ("SIEMENS", "B70f", "sharp"), ("SIEMENS", "Bl57d", "sharp"), ("SIEMENS", " bl64d ", "sharp"),
        ("GE MEDICAL SYSTEMS", "SOFT", "smooth"), ("GE MEDICAL SYSTEMS", "STANDARD", "medium"),
        ("GE Healthcare", "DETAIL", "medium"), ("GE MEDICAL SYSTEMS", "CHEST", "medium"),
        ("GE MEDICAL SYSTEMS", "LUNG", "sharp"), ("GE MEDICAL SYSTEMS", "BONE", "sharp"),
        ("Philips", "A", "smooth"), ("Philips Medical Systems", "B", "smooth"), ("Philips", "C", "medium"),
        ("Philips", "D", "sharp"), ("Philips", "L", "sharp"), ("Philips", "YB", "sharp"), ("Philips", "YC", "sharp"),
        ("TOSHIBA", "FC01", "smooth"), ("CANON_MEC", "FC04", "smooth"), ("TOSHIBA", "FC07", "medium"),
        ("Canon Medical Systems", "FC18", "medium"), ("TOSHIBA", "FC50", "sharp"), ("CANON_MEC", "FC86", "sharp"),
    ],
)  # fmt: skip
def test_reference_examples_fall_in_their_class(manufacturer, kernel, expected):
    assert KernelClassifier(TABLE).classify(manufacturer, kernel) == expected


@pytest.mark.parametrize(
    "manufacturer, kernel",
    [("SIEMENS", "B50f"), ("SIEMENS", "B300f"), ("GE MEDICAL SYSTEMS", "BONEPLUS"), ("Philips", "E"),
     ("TOSHIBA", "FC05"), ("ACME CT", "B30f"), ("SIEMENS", None), (None, "B30f")],
)  # fmt: skip
def test_kernels_and_vendors_outside_the_table_have_no_class(manufacturer, kernel):
    assert KernelClassifier(TABLE).classify(manufacturer, kernel) is None


def test_table_errors_name_the_key_and_the_file():
    file = r"conf/base/parameters_dicom_kernels\.yml"
    with pytest.raises(
        ValueError, match=rf"'kernel_classes\.x\.smooth' \({file}\): '\(' is not a regular expression"
    ):
        KernelClassifier({"x": {"manufacturer": "x", "smooth": ["("]}})
    with pytest.raises(ValueError, match=rf"'kernel_classes\.x' \({file}\) needs 'manufacturer'"):
        KernelClassifier({"x": {"smooth": ["A"]}})
    with pytest.raises(ValueError, match=r"'kernel_classes\.x\.smooth' .* must be a list of regexes"):
        KernelClassifier({"x": {"manufacturer": "x", "smooth": "A"}})
    both = KernelClassifier({"x": {"manufacturer": "x", "smooth": ["B.*"], "sharp": ["B7.*"]}})
    with pytest.raises(
        ValueError, match=r"Kernel 'B70' of x matches the classes smooth, sharp in 'kernel_classes\.x'"
    ):
        both.classify("x", "B70")
    twice = KernelClassifier(
        {"a": {"manufacturer": "ge", "s": ["A"]}, "b": {"manufacturer": "general", "s": ["A"]}}
    )
    with pytest.raises(ValueError, match=r"Manufacturer 'general electric' matches the vendors a, b"):
        twice.classify("general electric", "A")
