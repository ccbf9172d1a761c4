"""Handcrafted radiomics features of a nodule with PyRadiomics, configured from parameters.

The configuration is the ``radiomics`` block of ``conf/base/parameters_radiomics.yml``:

.. code-block:: yaml

    radiomics:
      settings: {...}          # PyRadiomics 'setting' block
      feature_classes: {...}   # PyRadiomics 'featureClass' block (no shape classes)
      image_types: {Original: {}}

PyRadiomics validates the blocks against its own schema; this module adds the project's
restrictions (only the intensity and texture classes below) and turns PyRadiomics' terse
or cryptic failures into errors that name the parameter or the problem.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor, getFeatureClasses

logger = logging.getLogger(__name__)

PARAMS_KEY = "radiomics"
ALLOWED_FEATURE_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
_CONFIG_KEYS = ("settings", "feature_classes", "image_types")
_DIAGNOSTICS_PREFIX = "diagnostics_"
# Extra image voxels kept around the ROI before B-spline resampling: the cubic B-spline
# prefilter's influence decays as 0.268^n, 0.268^30 ~ 1e-17 (below float64 rounding).
_BSPLINE_MARGIN_VOXELS = 30


def _quiet_pyradiomics() -> None:
    """PyRadiomics logs several INFO lines per extraction and prints warnings to stderr."""
    radiomics.setVerbosity(logging.ERROR)  # its own stderr handler: errors only
    # Its logger passes records on to the root (Kedro's) handlers: keep warnings (e.g. a
    # corrected mask geometry), drop the per-extraction INFO chatter.
    logging.getLogger("radiomics").setLevel(logging.WARNING)


def build_extractor(config: Mapping[str, Any]) -> featureextractor.RadiomicsFeatureExtractor:
    """A PyRadiomics extractor from ``{settings, feature_classes, image_types}``.

    Raises:
        ValueError: unknown top-level keys, a feature class other than
            ``ALLOWED_FEATURE_CLASSES``, or settings PyRadiomics' schema rejects; the
            message names the offending ``radiomics.*`` parameter.
    """
    if not isinstance(config, Mapping):
        raise ValueError(
            f"parameter `{PARAMS_KEY}` must be a mapping with keys {list(_CONFIG_KEYS)}, "
            f"got {type(config).__name__}"
        )
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in parameter `{PARAMS_KEY}`; allowed: {list(_CONFIG_KEYS)}"
        )

    settings = dict(config.get("settings") or {})
    feature_classes = config.get("feature_classes")
    image_types = config.get("image_types") or {"Original": {}}

    if not isinstance(feature_classes, Mapping) or not feature_classes:
        raise ValueError(
            f"`{PARAMS_KEY}.feature_classes` must map at least one of "
            f"{list(ALLOWED_FEATURE_CLASSES)} to null (all features) or a list of feature "
            f"names, got {feature_classes!r}"
        )
    not_allowed = [name for name in feature_classes if name not in ALLOWED_FEATURE_CLASSES]
    if not_allowed:
        raise ValueError(
            f"`{PARAMS_KEY}.feature_classes` requests {not_allowed}; only "
            f"{list(ALLOWED_FEATURE_CLASSES)} are allowed (shape features describe the "
            "mask, not the reconstruction, and are not part of this study)"
        )
    if not isinstance(image_types, Mapping):
        raise ValueError(
            f"`{PARAMS_KEY}.image_types` must be a mapping such as {{Original: {{}}}}, "
            f"got {image_types!r}"
        )

    params = {
        "setting": settings,
        # PyRadiomics takes None and [] both as "all features of the class".
        "featureClass": {name: feature_classes[name] for name in feature_classes},
        "imageType": {name: dict(kw or {}) for name, kw in image_types.items()},
    }
    _quiet_pyradiomics()
    # PyRadiomics' schema validator (pykwalify) logs each failure at ERROR before raising;
    # the error raised below says the same, so its log records would only be noise.
    validator_logger = logging.getLogger("pykwalify")
    level = validator_logger.level
    validator_logger.setLevel(logging.CRITICAL)
    try:
        extractor = featureextractor.RadiomicsFeatureExtractor(params)
    except Exception as error:  # pykwalify SchemaError and the schema functions' errors
        raise ValueError(
            f"PyRadiomics rejected parameter `{PARAMS_KEY}`: {_schema_paths(str(error))}"
        ) from error
    finally:
        validator_logger.setLevel(level)
    logger.debug("PyRadiomics extractor: %s", radiomics_settings_summary(extractor))
    return extractor


def _schema_paths(message: str) -> str:
    """PyRadiomics' schema paths ('/setting/binWidth') as parameter names."""
    for block, key in (("setting", "settings"), ("featureClass", "feature_classes"),
                       ("imageType", "image_types")):
        message = message.replace(f"'/{block}/", f"'{PARAMS_KEY}.{key}.")
        message = message.replace(f"'/{block}'", f"'{PARAMS_KEY}.{key}'")
    message = message.replace("<SchemaError: error code 2: ", "")
    message = message.replace(".: Path: '/'>", "").strip()
    if f"'{PARAMS_KEY}." not in message:
        message += (f" (in `{PARAMS_KEY}.settings`, `{PARAMS_KEY}.feature_classes` or "
                    f"`{PARAMS_KEY}.image_types`)")
    return message


def expected_feature_count(extractor: featureextractor.RadiomicsFeatureExtractor) -> int:
    """How many feature values ``extract_radiomics`` returns with this extractor."""
    classes = getFeatureClasses()
    per_image = 0
    for name, features in extractor.enabledFeatures.items():
        if features:
            per_image += len(features)
        else:  # all non-deprecated features
            per_image += sum(not deprecated
                             for deprecated in classes[name].getFeatureNames().values())
    return per_image * len(extractor.enabledImagetypes)


def radiomics_settings_summary(
    extractor: featureextractor.RadiomicsFeatureExtractor,
) -> dict[str, Any]:
    """The extractor's effective configuration as a flat dict (e.g. for MLflow params).

    Keys: ``pyradiomics_version``, ``n_features``, ``setting.<name>`` for every setting in
    force (PyRadiomics defaults included), ``feature_class.<name>`` ("all" or the listed
    features), ``image_type.<name>`` (its custom settings, "{}" if none). Values are
    scalars, strings or lists of scalars.
    """
    summary: dict[str, Any] = {
        "pyradiomics_version": str(radiomics.__version__),
        "n_features": expected_feature_count(extractor),
    }
    for name, value in sorted(extractor.settings.items()):
        summary[f"setting.{name}"] = _plain(value)
    for name, features in extractor.enabledFeatures.items():
        summary[f"feature_class.{name}"] = "all" if not features else list(features)
    for name, custom in extractor.enabledImagetypes.items():
        summary[f"image_type.{name}"] = str(dict(custom or {}))
    return summary


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _resampling_enabled(settings: Mapping[str, Any]) -> bool:
    return (settings.get("resampledPixelSpacing") is not None
            and settings.get("interpolator") is not None)


def _crop_image_around_roi(
    image: sitk.Image, mask: sitk.Image, roi: np.ndarray, settings: Mapping[str, Any]
) -> sitk.Image:
    """The part of ``image`` that resampling the ROI can read, with a wide margin."""
    # ROI bounding box in the mask's index space, (x, y, z) order; roi is (z, y, x).
    lower, upper = [], []
    for axis in (2, 1, 0):
        hits = np.flatnonzero(roi.any(axis=tuple(a for a in range(3) if a != axis)))
        lower.append(hits[0])
        upper.append(hits[-1])
    # Its corners (voxel edges) through physical space into the image's index space: also
    # right when image and mask differ in geometry (correctMask) or are oblique.
    corners = np.array([
        image.TransformPhysicalPointToContinuousIndex(
            mask.TransformContinuousIndexToPhysicalPoint(
                [float(c) for c in corner]))
        for corner in itertools.product(*[(lo - 0.5, hi + 0.5)
                                          for lo, hi in zip(lower, upper)])
    ])
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    new_spacing = np.asarray(settings["resampledPixelSpacing"], dtype=float)
    pad_mm = float(settings.get("padDistance", 5) or 0) * max(
        float(new_spacing.max()), float(spacing.max()), float(np.max(mask.GetSpacing())))
    margin = np.ceil(pad_mm / spacing) + 2 + _BSPLINE_MARGIN_VOXELS
    size = np.asarray(image.GetSize())
    start = np.maximum(np.floor(corners.min(axis=0)) - margin, 0).astype(int)
    stop = np.minimum(np.ceil(corners.max(axis=0)) + margin, size - 1).astype(int)
    if np.any(stop < start):  # ROI outside the image: let PyRadiomics report it
        return image
    if np.all(start == 0) and np.all(stop == size - 1):
        return image
    return sitk.RegionOfInterest(image, (stop - start + 1).tolist(), start.tolist())


def extract_radiomics(
    extractor: featureextractor.RadiomicsFeatureExtractor,
    image: sitk.Image,
    mask: sitk.Image,
) -> dict[str, float]:
    """Feature values of one ROI: ``{'original_glcm_Contrast': float, ...}``.

    The image is cast to float32 before PyRadiomics sees it: PyRadiomics resamples into
    the input's pixel type, so an int16 scan would otherwise have its interpolated values
    rounded, and the features would depend on how the scan happened to be stored.
    Diagnostics entries are dropped.

    With resampling enabled, the image (not the mask) is first cropped to the ROI's
    bounding box plus a wide margin (the resampling padding, the B-spline support and
    ``_BSPLINE_MARGIN_VOXELS`` more). PyRadiomics derives its 1 mm grid from the mask
    alone, so the grid is unchanged; the crop only spares SimpleITK's B-spline
    interpolator its prefilter over the whole scan (~3 s for 512 x 512 x 240 voxels, 90 %
    of the time). That prefilter is a recursive filter whose influence decays by a factor
    0.268 per voxel, so beyond the margin the values agree with an uncropped run to
    ~1e-12 relative (tests check the features agree).

    Raises:
        ValueError: the mask holds no voxel of the configured label ("empty mask"), the
            inputs are not 3D images, or PyRadiomics rejects the ROI (too small, outside
            the image, ...).
    """
    if not isinstance(image, sitk.Image) or not isinstance(mask, sitk.Image):
        raise ValueError(
            "image and mask must be SimpleITK images, got "
            f"{type(image).__name__} and {type(mask).__name__}"
        )
    if image.GetDimension() != 3 or mask.GetDimension() != 3:
        raise ValueError(
            f"image and mask must be 3D, got {image.GetDimension()}D and "
            f"{mask.GetDimension()}D"
        )
    if image.GetNumberOfComponentsPerPixel() != 1 or mask.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("image and mask must be scalar (single-component) images")

    label = int(extractor.settings.get("label", 1))
    mask_array = sitk.GetArrayViewFromImage(mask)
    n_roi = int(np.count_nonzero(mask_array == label))
    if n_roi == 0:
        present = np.unique(mask_array)
        present = present[present != 0]
        raise ValueError(
            f"empty mask: no voxel has label {label} (setting `{PARAMS_KEY}.settings.label`); "
            + (f"labels present: {present.tolist()[:10]}" if present.size
               else "the mask is all background")
        )

    if _resampling_enabled(extractor.settings):
        image = _crop_image_around_roi(image, mask, mask_array == label, extractor.settings)
    if image.GetPixelID() != sitk.sitkFloat32:
        image = sitk.Cast(image, sitk.sitkFloat32)

    try:
        result = extractor.execute(image, mask)
    except ValueError as error:
        raise ValueError(
            f"PyRadiomics rejected the ROI (label {label}, {n_roi} voxels at spacing "
            f"{tuple(round(s, 4) for s in mask.GetSpacing())} mm): {error}"
        ) from error

    features = {
        name: float(value)
        for name, value in result.items()
        if not name.startswith(_DIAGNOSTICS_PREFIX)
    }
    failed = [name for name, value in features.items() if not math.isfinite(value)]
    if failed:
        logger.warning(
            "PyRadiomics returned %d non-finite feature values (e.g. %s) for a %d-voxel ROI",
            len(failed), failed[:5], n_roi,
        )
    return features
