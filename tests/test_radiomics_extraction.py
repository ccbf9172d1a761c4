"""Tests of the PyRadiomics configuration (conf/base/parameters_radiomics.yml) and wrapper.

Values are checked against independent numpy computations over the voxels PyRadiomics
sees: the original voxels with resampling disabled, and the resampled voxels (resampled
with PyRadiomics' own ``resampleImage``) with the project's configuration.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import radiomics
import SimpleITK as sitk
import yaml
from radiomics import imageoperations

from lung_fm_robustness.radiomics_extraction import (
    ALLOWED_FEATURE_CLASSES,
    _crop_image_around_roi,
    build_extractor,
    expected_feature_count,
    extract_radiomics,
    radiomics_settings_summary,
)

PARAMS_FILE = Path(__file__).resolve().parents[1] / "conf" / "base" / "parameters_radiomics.yml"
EXPECTED_PER_CLASS = {"firstorder": 18, "glcm": 24, "glrlm": 16, "glszm": 16, "gldm": 14,
                      "ngtdm": 5}
SPACING = (0.7, 0.7, 1.0)  # (x, y, z) mm


@pytest.fixture(scope="module")
def config() -> dict:
    with PARAMS_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)["radiomics"]


@pytest.fixture(scope="module")
def extractor(config):
    return build_extractor(config)


@pytest.fixture(scope="module")
def no_resampling_extractor(config):
    unresampled = copy.deepcopy(config)
    unresampled["settings"]["resampledPixelSpacing"] = None
    return build_extractor(unresampled)


def _sphere_mask(size=40, spacing=SPACING, diameter_mm=12.0, centre=None) -> np.ndarray:
    """(z, y, x) boolean sphere; centre in (x, y, z) voxel indices."""
    centre = np.full(3, (size - 1) / 2.0) if centre is None else np.asarray(centre, float)
    z, y, x = np.ogrid[:size, :size, :size]
    r2 = (((x - centre[0]) * spacing[0]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2
          + ((z - centre[2]) * spacing[2]) ** 2)
    return r2 <= (diameter_mm / 2.0) ** 2


def _to_sitk(array: np.ndarray, spacing=SPACING, origin=(-12.0, 30.5, -101.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _nodule(size=40, spacing=SPACING, diameter_mm=12.0, centre=None, seed=0):
    """A +40 HU sphere with noise on a -850 HU background, and its mask (label 1)."""
    roi = _sphere_mask(size, spacing, diameter_mm, centre)
    rng = np.random.default_rng(seed)
    hu = np.where(roi, 40.0, -850.0) + rng.normal(0.0, 30.0, roi.shape)
    image = _to_sitk(hu.astype(np.float32), spacing)
    mask = _to_sitk(roi.astype(np.uint8), spacing)
    return image, mask


@pytest.fixture(scope="module")
def nodule():
    return _nodule()


@pytest.fixture(scope="module")
def features(extractor, nodule) -> dict:
    return extract_radiomics(extractor, *nodule)


# --- the configuration file ----------------------------------------------------------


def test_params_file_holds_a_standard_ct_setting(config):
    assert set(config) == {"settings", "feature_classes", "image_types"}
    s = config["settings"]
    assert s["resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    assert s["interpolator"] == "sitkBSpline"
    assert s["binWidth"] == 25 and "binCount" not in s
    assert s["label"] == 1
    assert s["normalize"] is False
    assert s["correctMask"] is True
    assert s["minimumROIDimensions"] == 2
    assert s["geometryTolerance"] > 0 and "padDistance" in s
    assert config["feature_classes"] == {name: None for name in EXPECTED_PER_CLASS}
    assert config["image_types"] == {"Original": {}}


# --- extraction ----------------------------------------------------------------------


def test_feature_count_per_class(extractor, features):
    assert len(features) == sum(EXPECTED_PER_CLASS.values()) == 93
    assert expected_feature_count(extractor) == 93
    per_class = {}
    for name in features:
        image_type, feature_class, _ = name.split("_", 2)
        assert image_type == "original"
        per_class[feature_class] = per_class.get(feature_class, 0) + 1
    assert per_class == EXPECTED_PER_CLASS
    assert not any(name.startswith("diagnostics") for name in features)
    assert all(type(value) is float and np.isfinite(value) for value in features.values())
    assert "original_glcm_Contrast" in features


def _firstorder_reference(voxels: np.ndarray, voxel_volume: float, bin_width=25.0) -> dict:
    """First-order features computed from their definitions, independently of PyRadiomics."""
    x = voxels.astype(np.float64)
    mean = x.mean()
    dev = x - mean
    bins = np.floor(x / bin_width)  # bin edges at multiples of binWidth
    _, counts = np.unique(bins, return_counts=True)
    p = counts / counts.sum()
    p10, p25, p75, p90 = np.percentile(x, [10, 25, 75, 90])
    robust = x[(x >= p10) & (x <= p90)]
    return {
        "Mean": mean,
        "Median": np.median(x),
        "Minimum": x.min(),
        "Maximum": x.max(),
        "Range": x.max() - x.min(),
        "10Percentile": p10,
        "90Percentile": p90,
        "InterquartileRange": p75 - p25,
        "Energy": np.sum(x**2),  # voxelArrayShift 0
        "TotalEnergy": np.sum(x**2) * voxel_volume,
        "RootMeanSquared": np.sqrt(np.mean(x**2)),
        "Variance": np.mean(dev**2),
        "MeanAbsoluteDeviation": np.mean(np.abs(dev)),
        "RobustMeanAbsoluteDeviation": np.mean(np.abs(robust - robust.mean())),
        "Skewness": np.mean(dev**3) / np.mean(dev**2) ** 1.5,
        "Kurtosis": np.mean(dev**4) / np.mean(dev**2) ** 2,
        "Entropy": -np.sum(p * np.log2(p)),
        "Uniformity": np.sum(p**2),
    }


def _assert_firstorder(features: dict, reference: dict) -> None:
    assert len(reference) == EXPECTED_PER_CLASS["firstorder"]
    for name, expected in reference.items():
        got = features[f"original_firstorder_{name}"]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), name


def test_firstorder_without_resampling_matches_numpy(no_resampling_extractor, nodule):
    image, mask = nodule
    got = extract_radiomics(no_resampling_extractor, image, mask)
    voxels = sitk.GetArrayFromImage(image)[sitk.GetArrayFromImage(mask) == 1]
    _assert_firstorder(got, _firstorder_reference(voxels, voxel_volume=np.prod(SPACING)))


def test_firstorder_matches_numpy_on_the_resampled_voxels(extractor, nodule, features):
    image, mask = nodule
    # The same resampling, with PyRadiomics' own function and the effective settings.
    resampled_image, resampled_mask = imageoperations.resampleImage(
        image, sitk.Cast(mask, sitk.sitkUInt32), **extractor.settings
    )
    assert resampled_image.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    roi = sitk.GetArrayFromImage(resampled_mask) == 1
    voxels = sitk.GetArrayFromImage(resampled_image)[roi]
    # A 12 mm sphere holds ~905 voxels at 1 mm^3 (4/3 pi 6^3); nearest neighbour keeps it.
    assert 800 < voxels.size < 1000
    _assert_firstorder(features, _firstorder_reference(voxels, voxel_volume=1.0))
    # The resampled ROI is not the original one: the mean genuinely changed.
    original = sitk.GetArrayFromImage(image)[sitk.GetArrayFromImage(mask) == 1]
    assert features["original_firstorder_Mean"] != pytest.approx(original.mean(), rel=1e-6)


@pytest.mark.parametrize("resampled", [True, False], ids=["resampled", "not-resampled"])
def test_constant_roi_has_no_spread(resampled, extractor, no_resampling_extractor):
    chosen = extractor if resampled else no_resampling_extractor
    roi = _sphere_mask()
    image = _to_sitk(np.full(roi.shape, 40.0, dtype=np.float32))  # constant everywhere
    mask = _to_sitk(roi.astype(np.uint8))
    got = extract_radiomics(chosen, image, mask)
    n_voxels = np.count_nonzero(roi) if not resampled else None
    assert got["original_firstorder_Variance"] == pytest.approx(0.0, abs=1e-9)
    assert got["original_firstorder_Entropy"] == pytest.approx(0.0, abs=1e-9)
    assert got["original_firstorder_Uniformity"] == pytest.approx(1.0)
    assert got["original_firstorder_Mean"] == pytest.approx(40.0, abs=1e-4)
    assert got["original_glcm_Contrast"] == pytest.approx(0.0, abs=1e-9)
    assert got["original_glcm_JointEntropy"] == pytest.approx(0.0, abs=1e-9)
    # A single gray level in one connected zone: one zone of all the ROI's voxels.
    assert got["original_glszm_SizeZoneNonUniformity"] == pytest.approx(1.0)
    if n_voxels is not None:
        assert got["original_glszm_ZonePercentage"] == pytest.approx(1.0 / n_voxels)
        assert got["original_glszm_LargeAreaEmphasis"] == pytest.approx(float(n_voxels) ** 2)


def test_extraction_is_deterministic(config, extractor, nodule, features):
    again = extract_radiomics(extractor, *nodule)
    rebuilt = extract_radiomics(build_extractor(config), *nodule)
    assert again == features
    assert rebuilt == features


def test_integer_and_float_scans_give_the_same_features(extractor):
    roi = _sphere_mask(diameter_mm=10.0)
    hu = np.where(roi, 40, -850) + np.random.default_rng(3).integers(-60, 60, roi.shape)
    mask = _to_sitk(roi.astype(np.uint8))
    as_int16 = extract_radiomics(extractor, _to_sitk(hu.astype(np.int16)), mask)
    as_float = extract_radiomics(extractor, _to_sitk(hu.astype(np.float32)), mask)
    assert as_int16 == as_float


def test_cropping_before_resampling_changes_nothing(extractor):
    """The image is cropped around the ROI before resampling; an uncropped PyRadiomics
    run on the whole volume gives the same values."""
    image, mask = _nodule(size=120, diameter_mm=9.0, centre=(20.3, 95.6, 60.2), seed=5)
    cropped = _crop_image_around_roi(
        image, mask, sitk.GetArrayViewFromImage(mask) == 1, extractor.settings
    )
    assert np.prod(cropped.GetSize()) < 0.5 * np.prod(image.GetSize())  # it does crop
    ours = extract_radiomics(extractor, image, mask)
    whole = extractor.execute(image, mask)
    whole = {k: float(v) for k, v in whole.items() if not k.startswith("diagnostics")}
    assert ours.keys() == whole.keys()
    for name, value in whole.items():
        assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_mask_with_other_geometry_is_corrected(extractor, nodule, features):
    image, mask = nodule
    shifted = sitk.Image(mask)
    shifted.SetOrigin(tuple(o + 1e-3 for o in mask.GetOrigin()))  # beyond the tolerance
    got = extract_radiomics(extractor, image, shifted)
    assert len(got) == 93


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize("bad_class", ["shape", "shape2D", "wavelet", "glcmm"])
def test_disallowed_feature_class_is_an_error(config, bad_class):
    bad = copy.deepcopy(config)
    bad["feature_classes"][bad_class] = None
    with pytest.raises(ValueError, match=r"radiomics\.feature_classes") as err:
        build_extractor(bad)
    assert bad_class in str(err.value)
    for allowed in ALLOWED_FEATURE_CLASSES:
        assert allowed in str(err.value)


def test_no_feature_class_is_an_error(config):
    bad = copy.deepcopy(config)
    bad["feature_classes"] = {}
    with pytest.raises(ValueError, match=r"radiomics\.feature_classes"):
        build_extractor(bad)


def test_unknown_feature_name_is_an_error(config):
    bad = copy.deepcopy(config)
    bad["feature_classes"]["glcm"] = ["Contrast", "NoSuchFeature"]
    with pytest.raises(ValueError, match="NoSuchFeature"):
        build_extractor(bad)


@pytest.mark.parametrize(
    "key, value", [("binWidht", 25), ("binWidth", -5), ("interpolator", "sitkCubic")]
)
def test_invalid_setting_is_an_error(config, key, value):
    bad = copy.deepcopy(config)
    bad["settings"][key] = value
    with pytest.raises(ValueError, match=r"radiomics\.settings"):
        build_extractor(bad)


def test_unknown_top_level_key_is_an_error(config):
    with pytest.raises(ValueError, match="feature_class"):
        build_extractor({**config, "feature_class": {"glcm": None}})


def test_empty_mask_is_an_error(extractor, nodule):
    image, mask = nodule
    empty = _to_sitk(np.zeros(sitk.GetArrayFromImage(mask).shape, np.uint8))
    with pytest.raises(ValueError, match="empty mask.*all background"):
        extract_radiomics(extractor, image, empty)
    other_label = _to_sitk(sitk.GetArrayFromImage(mask) * np.uint8(2))
    with pytest.raises(ValueError, match=r"empty mask: no voxel has label 1.*\[2\]"):
        extract_radiomics(extractor, image, other_label)


def test_single_voxel_roi_is_an_error(extractor, nodule):
    image, mask = nodule
    one = np.zeros(sitk.GetArrayFromImage(mask).shape, np.uint8)
    one[20, 20, 20] = 1
    with pytest.raises(ValueError, match="PyRadiomics rejected the ROI"):
        extract_radiomics(extractor, image, _to_sitk(one))


def test_non_images_are_an_error(extractor, nodule):
    image, _ = nodule
    with pytest.raises(ValueError, match="SimpleITK"):
        extract_radiomics(extractor, image, np.ones((4, 4, 4)))


# --- provenance and logging ----------------------------------------------------------


def test_settings_summary(extractor):
    summary = radiomics_settings_summary(extractor)
    json.dumps(summary)  # loggable as is
    assert summary["n_features"] == 93
    assert summary["pyradiomics_version"] == str(radiomics.__version__)
    assert summary["setting.binWidth"] == 25
    assert summary["setting.resampledPixelSpacing"] == [1.0, 1.0, 1.0]
    assert summary["setting.interpolator"] == "sitkBSpline"
    assert summary["setting.normalize"] is False
    assert summary["image_type.Original"] == "{}"
    assert {k for k in summary if k.startswith("feature_class.")} == {
        f"feature_class.{name}" for name in EXPECTED_PER_CLASS
    }
    assert all(summary[f"feature_class.{name}"] == "all" for name in EXPECTED_PER_CLASS)


def test_pyradiomics_is_quiet(extractor):
    radiomics_logger = logging.getLogger("radiomics")
    assert radiomics_logger.getEffectiveLevel() >= logging.WARNING
    assert radiomics.handler.level >= logging.ERROR
