"""Ingestion: the three sources (phantom, manifest, DICOM folder), every validation rule with
its message, the report and metric, the nodule choices and the masks of each mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from lung_fm_robustness.datasets import ResumablePartitionedDataset
from lung_fm_robustness.datasets.ct_volume import read_volume
from lung_fm_robustness.datasets.dicom_folder import DicomFolder
from lung_fm_robustness.datasets.nodule_csv import NoduleCsvSource
from lung_fm_robustness.datasets.scan_manifest import ManifestSource
from lung_fm_robustness.ingestion_issues import ISSUE_COLUMNS, IngestionError
from lung_fm_robustness.manifest import REQUIRED_COLUMNS
from lung_fm_robustness.phantom.study import DEFAULT_PARAMS
from lung_fm_robustness.pipelines.ingestion.nodes import (
    SCAN_COLUMNS,
    make_nodule_masks,
    register_scans,
    simulate_phantom_study,
)
from tests.dicom.series_writer import ct_volume, write_series

ROOT = Path(__file__).resolve().parents[2]
KERNEL_CLASSES = yaml.safe_load((ROOT / "conf/base/parameters_dicom_kernels.yml").read_text())[
    "kernel_classes"
]
LAYOUT = {"images": "images", "masks": "masks", "suffix": ".nii.gz"}
AGREEMENT = {"reference": {"kernel": "medium", "slice_thickness_mm": 1.0}, "allow_missing_patients": False}
NOWHERE = ManifestSource(Path("/nonexistent/manifest.csv"))
GE, SIEMENS, PHILIPS = "GE MEDICAL SYSTEMS", "SIEMENS", "Philips"
FAR = (20.0, 30.0, -100.0)  # P5's volume origin: x in [20, 44.8], y in [30, 54.8]
NODULES = ((0.0, 0.0, -90.0), 6.0), ((6.0, 6.0, -88.0), 4.0)
# patient, manufacturer, kernel, thickness (mm), options: what the DICOM study holds
SERIES = [
    ("P1", SIEMENS, "B45f", 1.0, {}), ("P1", SIEMENS, "B70f", 1.0, {}),
    ("P1", SIEMENS, "B45f", 2.0, {}), ("P1", SIEMENS, "B70f", 2.0, {}),
    ("P1", SIEMENS, "t2_tse", 1.0, {"modality": "MR"}),
    ("P2", GE, "STANDARD", 1.25, {}), ("P2", GE, "LUNG", 1.0, {}), ("P2", GE, "STANDARD", 2.0, {}), ("P2", GE, "LUNG", 2.0, {}),
    ("P3", PHILIPS, "C", 1.0, {}), ("P3", PHILIPS, "D", 1.0, {}), ("P3", PHILIPS, "C", 2.0, {}),
    ("P3", PHILIPS, "D", 2.0, {"rescale": False}),
    ("P4", "TOSHIBA", "FC07", 1.0, {}), ("P4", "TOSHIBA", "FC52", 1.0, {}),
    ("P4", "TOSHIBA", "FC07", 2.0, {}), ("P4", "TOSHIBA", "FC52", 2.0, {}),
    ("P5", SIEMENS, "B45f", 1.0, {"origin": FAR}), ("P5", SIEMENS, "B50f", 1.0, {"origin": FAR}),
    ("P5", SIEMENS, "B45f", 2.0, {"origin": FAR}), ("P5", SIEMENS, "B70f", 2.0, {"origin": FAR}),
    ("P6", "CANON_MEC", "FC07", 1.0, {}), ("P6", "CANON_MEC", "FC52", 1.0, {}),
    ("P6", "CANON_MEC", "FC07", 2.0, {"truncate": 4}), ("P6", "CANON_MEC", "FC52", 2.0, {}),
    ("P7", SIEMENS, "B45f", 1.0, {}),
    ("P8", SIEMENS, "B45f", 1.0, {}), ("P8", SIEMENS, "B46f", 1.0, {}), ("P8", SIEMENS, "B70f", 1.0, {}),
]  # fmt: skip
NODULE_LIST = """patient_id,nodule_id,coordX,coordY,coordZ,diameter_mm
P1,a,0,0,-90,6
P1,b,6,6,-88,4
P2,a,0,0,-90,6
P3,a,0,0,-90,6
P4,a,0,0,-90,6
P5,a,-30,-40,-90,6
P6,a,0,0,-90,6
P8,a,0,0,-90,6
P9,a,0,0,-90,6
"""


def _ingestion(source: str, **changes) -> dict:
    params = yaml.safe_load((ROOT / "conf/base/parameters_ingestion.yml").read_text())["ingestion"]
    params.update(source=source, phantom_layout=LAYOUT, phantom={**DEFAULT_PARAMS, "n_patients": 2})
    params["masks"].update(directory="data/02_intermediate/nodule_masks", suffix=".nii.gz")
    for key, value in changes.items():
        if key.startswith("masks_"):
            params["masks"][key.removeprefix("masks_")] = value
        else:
            params[key] = value
    return params


def write_dicom_study(root: Path, series=SERIES) -> dict[tuple[str, str, float], str]:
    """The DICOM study on disk: one folder per series, root/<patient>/<kernel>_<thickness>."""
    uids = {}
    for patient, manufacturer, kernel, thickness, options in series:
        depth = int(round(20 / thickness))
        origin = options.get("origin", (-12.0, -14.0, -100.0))
        nodules = [((30.0, 40.0, -90.0), 6.0)] if origin == FAR else NODULES
        image = ct_volume(size=(32, 32, depth), spacing=(0.8, 0.8, thickness), origin=origin, nodules=nodules)
        folder = root / patient / f"{kernel}_{thickness:g}"
        uid = write_series(
            image, folder, patient_id=patient, manufacturer=manufacturer, kernel=kernel,
            modality=options.get("modality", "CT"), rescale=options.get("rescale", True),
        )  # fmt: skip
        if "truncate" in options:
            broken = folder / f"{uid}_{options['truncate']:03d}.dcm"
            broken.write_bytes(broken.read_bytes()[:-300])
        uids[(patient, kernel, thickness)] = uid
    return uids


@pytest.fixture(scope="module")
def dicom_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    uids = write_dicom_study(folder / "dicom")
    (folder / "nodules.csv").write_text(NODULE_LIST)
    return folder, uids


def _register(study, **changes):
    folder, _ = study
    ingestion = _ingestion(
        "dicom", **{"masks_mode": "reference_propagated", "nodule_selection": "largest", **changes}
    )
    return register_scans(
        NOWHERE, NOWHERE, DicomFolder(folder / "dicom"), NoduleCsvSource(folder / "nodules.csv"),
        ingestion, KERNEL_CLASSES, AGREEMENT,
    )  # fmt: skip


# ---------------------------------------------------------------------------- DICOM folder


def test_raise_mode_stops_before_heavy_work_listing_every_problem(dicom_study):
    folder, uids = dicom_study
    with pytest.raises(IngestionError) as raised:
        _register(dicom_study, on_error="raise")
    message = str(raised.value)
    assert message.startswith("Ingestion found 15 problem(s):\n")
    assert (
        "[kernel_unknown] 1:\n  - siemens kernel 'B50f' is in no class: add a regex matching it to one of "
        "smooth, medium, sharp under 'kernel_classes.siemens' in conf/base/parameters_dicom_kernels.yml. "
        f"(series {uids[('P5', 'B50f', 1.0)]} in {folder / 'dicom/P5/B50f_1'})"
    ) in message
    for rule in ("unreadable", "geometry", "duplicate", "no_series", "seed_outside_volume", "hu_range",
                 "missing_reference", "missing_condition"):  # fmt: skip
        assert f"\n[{rule}] " in message
    for reported_only in ("modality", "slice_thickness", "no_nodule"):  # MR, 1.25 mm, P7
        assert f"[{reported_only}]" not in message
    assert message.endswith(
        "Fix them, or set ingestion.on_error=skip to leave what they affect out (each is then listed in "
        "data/08_reporting/ingestion_issues.csv)."
    )


def test_skip_mode_reports_every_problem_and_keeps_the_clean_patients(dicom_study):
    folder, uids = dicom_study
    scans, issues, summary, metrics = _register(dicom_study, on_error="skip")
    assert list(issues.columns) == list(ISSUE_COLUMNS)
    found = sorted(zip(issues["patient_id"].fillna("-"), issues["rule"], issues["action"]))
    assert found == sorted([
        ("-", "unreadable", "skip file"),
        ("P1", "modality", "ignore series"),
        ("P2", "slice_thickness", "ignore series"),
        ("P5", "kernel_unknown", "skip series"),
        ("P6", "geometry", "skip series"),
        ("P8", "duplicate", "skip series"), ("P8", "duplicate", "skip series"),
        ("P7", "no_nodule", "ignore patient"),
        ("P9", "no_series", "skip nodule"),
        ("P3", "hu_range", "skip scan"),
        *[("P5", "seed_outside_volume", "skip scan")] * 3,
        ("P2", "missing_reference", "skip patient"),
        ("P5", "missing_reference", "skip patient"),
        ("P8", "missing_reference", "skip patient"),
        ("P3", "missing_condition", "skip patient"),
        ("P6", "missing_condition", "skip patient"),
    ])  # fmt: skip
    messages = issues.set_index("rule")["message"]
    dicom = folder / "dicom"
    assert messages["modality"] == "Modality (0008,0060) is 'MR', not 'CT': only CT series are analysed."
    assert messages["slice_thickness"] == (
        "slice thickness 1.25 mm matches none of ingestion.slice_thicknesses_mm [1.0, 2.0] within "
        "ingestion.thickness_tolerance_mm 0; add it to the list, or set the tolerance to 0.25 to count it as 1 mm."
    )
    assert messages["geometry"] == (
        "slices are unevenly spaced (first gap 2.000 mm, mean 2.250 mm): a slice is missing or unreadable."
    )
    assert messages["duplicate"].iloc[0] == (
        f"2 series of patient P8 are medium 1.0 mm ({uids[('P8', 'B45f', 1.0)]}, {uids[('P8', 'B46f', 1.0)]}); "
        "keep one (move the others out of ingestion.dicom_root)."
    )
    unreadable = issues[issues["rule"] == "unreadable"].iloc[0]
    assert unreadable["location"] == str(dicom / f"P6/FC07_2/{uids[('P6', 'FC07', 2.0)]}_004.dcm")
    assert (
        unreadable["message"]
        == "DICOM file GDCM cannot parse (truncated or corrupt); it is not part of any series."
    )
    assert messages["seed_outside_volume"].iloc[0] == (
        "the seed (-30, -40, -90) lies outside the volume, whose voxel centres span x [20.0, 44.8], "
        "y [30.0, 54.8], z [-100.0, -81.0] mm (LPS). The point with x,y negated (30, 40, -90) lies "
        "inside: coordinates look like RAS; negate x and y to get LPS."
    )
    assert messages["hu_range"].startswith("slice 5 has no value below 0 (minimum ")
    assert messages["hu_range"].endswith(
        "the values look like raw scanner values, not HU (air is about -1000 HU). Check the rescale "
        "(RescaleIntercept (0028,1052), RescaleSlope (0028,1053)) or convert the image to HU."
    )
    assert set(messages["missing_reference"]) == {
        f"patient {p} has no usable medium 1.0 mm scan, the reference (agreement.reference); its other scans "
        "cannot be compared."
        for p in ("P2", "P5", "P8")
    }
    assert messages["missing_condition"].iloc[0] == (
        "patient P3 lacks sharp 2.0 mm; agreement pairs every patient in every condition. Add the scans, "
        "or set agreement.allow_missing_patients: true to keep the patient elsewhere."
    )
    assert messages["no_nodule"] == (
        f"patient P7 has CT series but no row in {folder / 'nodules.csv'}: not analysed (add its nodules "
        "to analyse it)."
    )
    assert messages["no_series"] == (
        f"no series of patient P9 under ingestion.dicom_root {dicom} (its PatientID (0010,0020) must equal "
        "the nodule list's patient_id)."
    )
    assert list(scans.columns) == list(SCAN_COLUMNS)
    assert list(scans["scan_id"]) == [
        f"{p}_{k}_{t}mm" for p in ("P1", "P4") for k in ("medium", "sharp") for t in ("1.0", "2.0")
    ]
    p1 = scans.iloc[0]
    assert (p1["image_path"], p1["series_uid"]) == (str(dicom / "P1/B45f_1"), uids[("P1", "B45f", 1.0)])
    assert (p1["manufacturer"], p1["convolution_kernel"], p1["nodule_id"], p1["diameter_mm"]) == (
        SIEMENS,
        "B45f",
        "a",
        6.0,
    )
    assert (scans["source"] == "dicom").all() and scans["mask_path"].isna().all()
    assert metrics == {"ingestion.n_skipped": {"value": 18.0, "step": 0}}
    assert summary == {
        "source": "dicom", "mask_mode": "reference_propagated", "nodule_selection": "largest", "on_error": "skip",
        "reference": "medium 1.0 mm", "n_found": 26, "n_scans": 8, "n_patients": 2, "n_skipped": 18,
        "skipped_patients": ["P2", "P3", "P5", "P6", "P8", "P9"], "n_issues": 18, "n_problems": 15,
        "conditions": {"medium 1.0 mm": 2, "medium 2.0 mm": 2, "sharp 1.0 mm": 2, "sharp 2.0 mm": 2},
    }  # fmt: skip


def test_thickness_tolerance_counts_a_1_25_mm_series_as_1_mm(dicom_study):
    _, uids = dicom_study
    scans, issues, _, _ = _register(dicom_study, on_error="skip", thickness_tolerance_mm=0.25)
    assert "slice_thickness" not in set(issues["rule"])
    p2 = scans[scans["patient_id"] == "P2"].set_index("scan_id")
    assert p2.loc["P2_medium_1.0mm", "series_uid"] == uids[("P2", "STANDARD", 1.25)]
    assert len(p2) == 4


def test_all_nodules_make_one_row_per_nodule_paired_by_nodule(dicom_study):
    scans, _, _, _ = _register(dicom_study, on_error="skip", nodule_selection="all")
    p1 = scans[scans["patient_id"] == "P1"]
    assert list(p1["scan_id"]) == [
        f"P1_{k}_{t}mm_{n}" for n in ("a", "b") for k in ("medium", "sharp") for t in ("1.0", "2.0")
    ]
    assert list(p1["nodule_id"]) == ["a"] * 4 + ["b"] * 4
    assert p1.groupby("nodule_id")[["coordX", "diameter_mm"]].first().to_dict() == {
        "coordX": {"a": 0.0, "b": 6.0},
        "diameter_mm": {"a": 6.0, "b": 4.0},
    }


def test_random_selection_takes_one_nodule_per_patient(dicom_study):
    scans, _, _, _ = _register(dicom_study, on_error="skip", nodule_selection="random", seed=7)
    assert scans.groupby("patient_id")["nodule_id"].nunique().eq(1).all()
    again, _, _, _ = _register(dicom_study, on_error="skip", nodule_selection="random", seed=7)
    pd.testing.assert_frame_equal(scans, again)


def test_dicom_scans_read_back_by_folder_and_uid_and_get_propagated_masks(dicom_study):
    scans, _, _, _ = _register(dicom_study, on_error="skip", nodule_selection="all")
    p1 = scans[scans["patient_id"] == "P1"].reset_index(drop=True)
    image = read_volume(p1.loc[0, "image_path"], series_uid=p1.loc[0, "series_uid"])
    assert image.GetSize() == (32, 32, 20) and sitk.GetArrayViewFromImage(image).min() < -700
    masks, with_masks = make_nodule_masks(
        p1, _ingestion("dicom", masks_mode="reference_propagated", nodule_selection="all"), AGREEMENT
    )
    assert list(with_masks["mask_path"]) == [
        f"data/02_intermediate/nodule_masks/{key}.nii.gz" for key in p1["scan_id"]
    ]
    arrays = {key: sitk.GetArrayFromImage(make()) for key, make in masks.items()}
    for row in with_masks.itertuples():
        header = read_volume(row.image_path, series_uid=row.series_uid)
        assert arrays[row.scan_id].shape == sitk.GetArrayViewFromImage(header).shape
    # the same physical region whatever the kernel: identical on identical grids
    np.testing.assert_array_equal(arrays["P1_medium_2.0mm_a"], arrays["P1_sharp_2.0mm_a"])
    volume_mm3 = {key: a.sum() * 0.64 * (1.0 if "_1.0mm" in key else 2.0) for key, a in arrays.items()}
    assert volume_mm3["P1_medium_1.0mm_a"] == pytest.approx(np.pi / 6 * 6**3, rel=0.2)
    # a 4 mm nodule loses about a third of its voxels to the 1 mm opening (documented)
    assert 0.5 < volume_mm3["P1_medium_1.0mm_b"] / (np.pi / 6 * 4**3) < 1.1
    b = with_masks.set_index("scan_id").loc["P1_sharp_1.0mm_b"]
    index = np.argwhere(arrays["P1_sharp_1.0mm_b"])[:, ::-1]
    origin, spacing = np.array([-12.0, -14.0, -100.0]), np.array([0.8, 0.8, 1.0])
    np.testing.assert_allclose(
        (origin + index * spacing).mean(axis=0), (b["coordX"], b["coordY"], b["coordZ"]), atol=0.5
    )


def test_dicom_parameter_errors_name_the_parameter(dicom_study):
    with pytest.raises(
        ValueError, match="ingestion.masks.mode 'provided' needs a mask per scan, and DICOM series bring none"
    ):
        _register(dicom_study, masks_mode="provided")
    with pytest.raises(ValueError, match=r"ingestion\.on_error must be one of raise, skip, got 'ignore'"):
        _register(dicom_study, on_error="ignore")
    with pytest.raises(
        ValueError, match=r"ingestion\.thickness_tolerance_mm must be a number >= 0 \(mm\), got -0\.1"
    ):
        _register(dicom_study, thickness_tolerance_mm=-0.1)
    folder, _ = dicom_study
    with pytest.raises(
        IngestionError,
        match=r"No scan is the reference condition medium 3\.0 mm \(agreement\.reference\); "
        r"the conditions found are medium 1\.0 mm, medium 2\.0 mm, sharp 1\.0 mm",
    ):
        register_scans(
            NOWHERE, NOWHERE, DicomFolder(folder / "dicom"), NoduleCsvSource(folder / "nodules.csv"),
            _ingestion("dicom", masks_mode="seed_segmentation"), KERNEL_CLASSES,
            {"reference": {"kernel": "medium", "slice_thickness_mm": 3.0}},
        )  # fmt: skip


# ------------------------------------------------------------------------------- manifest


@pytest.fixture
def manifest(tmp_path, ct_with_sphere):
    """Four patients x (medium, sharp) 1.0 mm NIfTI scans with masks; the seed is the sphere."""
    image, mask = ct_with_sphere
    seed = image.TransformIndexToPhysicalPoint((32, 30, 14))
    rows = []
    for patient in ("P1", "P2", "P3", "P4"):
        for kernel in ("medium", "sharp"):
            name = f"{patient}_{kernel}"
            sitk.WriteImage(image, str(tmp_path / f"{name}.nii.gz"))
            sitk.WriteImage(mask, str(tmp_path / f"{name}_mask.nii.gz"))
            rows.append([patient, kernel, 1.0, f"{name}.nii.gz", *seed, f"{name}_mask.nii.gz"])
    frame = pd.DataFrame(rows, columns=[*REQUIRED_COLUMNS, "mask_path"])
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    return tmp_path, frame, seed, image


def test_a_clean_manifest_registers_every_scan_with_no_issue(manifest):
    folder, frame, _, _ = manifest
    scans, issues, summary, metrics = register_scans(
        NOWHERE,
        ManifestSource(folder / "manifest.csv"),
        None,
        None,
        _ingestion("manifest"),
        KERNEL_CLASSES,
        AGREEMENT,
    )
    assert issues.empty and metrics == {"ingestion.n_skipped": {"value": 0.0, "step": 0}} and len(scans) == 8
    assert scans["series_uid"].isna().all() and scans["nodule_id"].isna().all()
    assert summary["mask_mode"] == "provided" and summary["nodule_selection"] is None


def test_manifest_rows_get_the_same_validation(manifest):
    folder, frame, seed, image = manifest
    x, y, z = seed
    frame.loc[1, ["coordX", "coordY"]] = [-x, -y]  # P1 sharp: RAS
    frame.loc[3, ["coordX", "coordY", "coordZ"]] = [32, 30, 14]  # P2 sharp: a voxel index
    raw = sitk.Cast(image + 1024, sitk.sitkUInt16)
    sitk.WriteImage(raw, str(folder / "P3_sharp.nii.gz"))  # P3 sharp: no HU
    (folder / "P4_sharp.nii.gz").write_bytes(b"not a volume")  # P4 sharp: unreadable
    frame.to_csv(folder / "manifest.csv", index=False)
    scans, issues, summary, _ = register_scans(
        NOWHERE, ManifestSource(folder / "manifest.csv"), None, None, _ingestion("manifest", on_error="skip"),
        KERNEL_CLASSES, {**AGREEMENT, "allow_missing_patients": True},
    )  # fmt: skip
    rules = dict(zip(issues["scan_id"].fillna(issues["patient_id"]), issues["rule"]))
    assert rules == {
        "P1_sharp_1.0mm": "seed_outside_volume", "P2_sharp_1.0mm": "seed_outside_volume",
        "P3_sharp_1.0mm": "hu_range", "P4_sharp_1.0mm": "unreadable",
        "P1": "missing_condition", "P2": "missing_condition", "P3": "missing_condition", "P4": "missing_condition",
    }  # fmt: skip
    messages = issues.set_index("scan_id")["message"]
    assert "coordinates look like RAS; negate x and y to get LPS." in messages["P1_sharp_1.0mm"]
    assert messages["P2_sharp_1.0mm"].endswith(
        "Read as a voxel index (x, y, z) the point lies inside: coordinates look like voxel indices; convert "
        "them with TransformIndexToPhysicalPoint."
    )
    assert messages["P4_sharp_1.0mm"].startswith("SimpleITK cannot read the header of ")
    assert (
        issues.set_index("scan_id").loc["P1_sharp_1.0mm", "location"] == f"{folder / 'manifest.csv'} line 3"
    )
    kept = issues[issues["rule"] == "missing_condition"].set_index("patient_id").loc["P1"]
    assert (kept["rule"], kept["action"]) == ("missing_condition", "keep")
    assert (
        kept["message"]
        == "patient P1 lacks sharp 1.0 mm; agreement leaves it out there (agreement.allow_missing_patients: true)."
    )
    assert list(scans["scan_id"]) == [f"P{i}_medium_1.0mm" for i in range(1, 5)]
    assert (summary["n_skipped"], summary["skipped_patients"]) == (4, [])


def test_provided_masks_must_exist_and_share_the_grid(manifest):
    folder, frame, _, image = manifest
    frame.loc[0, "mask_path"] = None
    shifted = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    shifted.CopyInformation(image)
    shifted.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(shifted, str(folder / "P2_medium_mask.nii.gz"))
    frame.to_csv(folder / "manifest.csv", index=False)
    with pytest.raises(IngestionError) as raised:
        register_scans(
            NOWHERE,
            ManifestSource(folder / "manifest.csv"),
            None,
            None,
            _ingestion("manifest"),
            KERNEL_CLASSES,
            AGREEMENT,
        )
    message = str(raised.value)
    assert (
        "[mask] 2:\n  - no mask_path, and ingestion.masks.mode is 'provided': add a mask_path column to the "
        "manifest, or set ingestion.masks.mode to seed_segmentation or reference_propagated."
    ) in message
    assert re.search(r"Scan 'P2_medium_1\.0mm': the mask's origin \(.*\) differs from the image's", message)


def test_segmented_masks_replace_the_manifest_masks(manifest):
    folder, _, _, image = manifest
    ingestion = _ingestion("manifest", masks_mode="seed_segmentation")
    scans, _, _, _ = register_scans(
        NOWHERE, ManifestSource(folder / "manifest.csv"), None, None, ingestion, KERNEL_CLASSES, AGREEMENT
    )
    masks, with_masks = make_nodule_masks(scans, ingestion, AGREEMENT)
    assert set(masks) == set(scans["scan_id"])
    assert with_masks.loc[0, "mask_path"] == "data/02_intermediate/nodule_masks/P1_medium_1.0mm.nii.gz"
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "P1_medium_mask.nii.gz"))) > 0
    mask = sitk.GetArrayFromImage(masks["P1_medium_1.0mm"]()) > 0
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.8


def test_a_seed_off_the_nodule_is_caught_before_segmentation(manifest):
    folder, frame, seed, _ = manifest
    frame.loc[2, ["coordX", "coordY"]] = [seed[0] - 12.0, seed[1] + 12.0]  # P2 medium: in the lung
    frame.to_csv(folder / "manifest.csv", index=False)
    ingestion = _ingestion("manifest", masks_mode="seed_segmentation", on_error="skip")
    scans, issues, _, _ = register_scans(
        NOWHERE, ManifestSource(folder / "manifest.csv"), None, None, ingestion, KERNEL_CLASSES, AGREEMENT
    )
    first = issues.iloc[0]
    assert (first["scan_id"], first["rule"], first["action"]) == (
        "P2_medium_1.0mm",
        "segmentation_seed",
        "skip scan",
    )
    assert first["message"] == (
        "no voxel at or above -500 HU within 3 mm of the seed (after smoothing): the seed is not on a solid "
        "nodule. Check the coordinates, lower ingestion.masks.segmentation.lower_hu (about -750 for ground "
        "glass), or provide masks."
    )
    assert list(issues["rule"]) == ["segmentation_seed", "missing_reference"]
    assert "P2" not in set(scans["patient_id"])


# -------------------------------------------------------------------------------- phantom


def test_unknown_source_names_the_parameter_and_choices():
    with pytest.raises(
        ValueError, match="ingestion.source must be one of phantom, manifest, dicom, got 'ct'"
    ):
        simulate_phantom_study(_ingestion("ct"), {})


@pytest.mark.parametrize("source", ["manifest", "dicom"])
def test_other_sources_simulate_nothing(source):
    work, manifest, truth = simulate_phantom_study(_ingestion(source), {})
    assert work.tasks == {} and manifest.empty and truth.empty
    assert set(REQUIRED_COLUMNS) <= set(manifest.columns)


@pytest.fixture(scope="module")
def phantom_on_disk(tmp_path_factory):
    """The 2-patient phantom study written where its manifest points."""
    folder = tmp_path_factory.mktemp("phantom")
    work, manifest, truth = simulate_phantom_study(_ingestion("phantom"), {})
    assert list(work.tasks) == ["PH001", "PH002"]  # one task per patient
    ResumablePartitionedDataset(str(folder), "lung_fm_robustness.datasets.CTVolumeDataset", ".nii.gz").save(work)
    manifest.to_csv(folder / "manifest.csv", index=False)
    return folder, manifest, truth


def test_phantom_writes_the_user_manifest_format_with_diameters(phantom_on_disk):
    _, manifest, truth = phantom_on_disk
    assert len(manifest) == 2 * 3 * 2
    assert list(truth["patient_id"]) == ["PH001", "PH002"]
    assert manifest.loc[0, "image_path"] == "images/PH001_smooth_1.0mm.nii.gz"
    first = manifest[manifest["patient_id"] == "PH001"]
    assert first[["coordX", "coordY", "coordZ", "diameter_mm"]].nunique().max() == 1
    assert first.iloc[0]["coordX"] == pytest.approx(truth.loc[0, "centre_x_mm"])
    assert first.iloc[0]["diameter_mm"] == pytest.approx(truth.loc[0, "diameter_mm"], abs=0.05)


@pytest.mark.parametrize("mode", ["provided", "seed_segmentation", "reference_propagated"])
def test_phantom_passes_validation_trivially_in_every_mask_mode(phantom_on_disk, mode):
    folder, _, _ = phantom_on_disk
    ingestion = _ingestion("phantom", masks_mode=mode)
    scans, issues, summary, metrics = register_scans(
        ManifestSource(folder / "manifest.csv"), NOWHERE, None, None, ingestion, KERNEL_CLASSES, AGREEMENT
    )
    assert issues.empty and metrics == {"ingestion.n_skipped": {"value": 0.0, "step": 0}}
    assert len(scans) == 12 and (scans["source"] == "phantom").all() and summary["mask_mode"] == mode
    masks, with_masks = make_nodule_masks(scans, ingestion, AGREEMENT)
    assert len(masks) == (0 if mode == "provided" else 12)
    assert with_masks["mask_path"].str.contains("masks/").all()


# ------------------------------------------------------------------- kedro run (ingestion)


@pytest.mark.slow
def test_kedro_run_of_the_ingestion_pipeline_on_a_dicom_folder(tmp_path):
    from mlflow.tracking import MlflowClient

    from tests.integration.test_kedro_run import copy_project, kedro

    project = copy_project(tmp_path / "project")
    uids = write_dicom_study(tmp_path / "dicom", [row for row in SERIES if row[0] in ("P1", "P3", "P4")])
    (tmp_path / "nodules.csv").write_text(
        "patient_id,coordX,coordY,coordZ,diameter_mm\nP1,0,0,-90,6\nP3,0,0,-90,6\nP4,0,0,-90,6\n"
    )
    params = (
        f"ingestion.source=dicom,ingestion.dicom_root={tmp_path / 'dicom'},ingestion.nodules_csv="
        f"{tmp_path / 'nodules.csv'},ingestion.masks.mode=seed_segmentation,ingestion.on_error=skip"
    )
    result = kedro(project, "run", "--pipelines", "ingestion", "--params", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    scans = pd.read_parquet(project / "data/02_intermediate/scans.parquet")
    assert len(scans) == 8 and set(scans["series_uid"]) <= set(uids.values())
    for path in scans["mask_path"]:
        assert sitk.GetArrayViewFromImage(sitk.ReadImage(str(project / path))).sum() > 50
    issues = pd.read_csv(project / "data/08_reporting/ingestion_issues.csv")
    # P1's MR series is reported; P3's series without rescale leaves P3 without sharp 2.0 mm
    assert list(zip(issues["patient_id"], issues["rule"])) == [
        ("P1", "modality"), ("P3", "hu_range"), ("P3", "missing_condition")
    ]  # fmt: skip
    summary = json.loads((project / "data/08_reporting/ingestion_summary.json").read_text())
    assert (summary["mask_mode"], summary["n_skipped"], summary["skipped_patients"]) == (
        "seed_segmentation",
        4,
        ["P3"],
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("lung_fm_robustness").experiment_id])[0]
    assert run.data.params["ingestion.masks.mode"] == "seed_segmentation"
    assert run.data.metrics["ingestion.n_skipped"] == 4.0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"ingestion_issues.csv", "ingestion_summary.json"} <= artifacts
