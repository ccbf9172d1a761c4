"""The phantom reproduces the physics it claims: measured MTF, NPS, noise, slice profile.

Measurements go through the same reconstruction code as the study (uniform and slab
objects built as ``Acquisition``s), then the study API is checked for determinism,
geometry, masks, ground truth and parameter validation.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.ndimage import gaussian_filter

from lung_fm_robustness.phantom import study
from lung_fm_robustness.phantom.kernels import KernelSpec, mtf, mtf50_mtf10, nps_shape
from lung_fm_robustness.phantom.reconstruction import reconstruct_hu

REFERENCE_MTF = {"smooth": (0.35, 0.59), "medium": (0.45, 0.75), "sharp": (0.68, 0.98)}
REFERENCE_NPS_PEAK = {"smooth": 0.21, "medium": 0.27, "sharp": 0.40}


@pytest.fixture(scope="module")
def config() -> study.PhantomConfig:
    return study.PhantomConfig.from_params(study.DEFAULT_PARAMS)


@pytest.fixture(scope="module")
def uniform(config):
    return study.render_uniform_acquisition(config, hu=-870.0, seed=0)


@pytest.fixture(scope="module")
def specs(config) -> list[study.PatientSpec]:
    return [study.draw_patient(config, i) for i in range(40)]


@pytest.fixture(scope="module")
def acquisitions(config, specs) -> dict[int, study.Acquisition]:
    return {i: study.render_acquisition(config, specs[i]) for i in (0, 1)}


def _params(**changes) -> dict:
    params = copy.deepcopy(study.DEFAULT_PARAMS)
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        target = params
        for part in path:
            target = target[part]
        target[key] = value
    return params


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


# ---- kernels ---------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", REFERENCE_MTF)
def test_kernel_mtf50_mtf10_match_reference(config, kernel):
    mtf50, mtf10 = mtf50_mtf10(config.kernel_specs[kernel])
    ref50, ref10 = REFERENCE_MTF[kernel]
    assert mtf50 == pytest.approx(ref50, rel=0.05)
    assert mtf10 == pytest.approx(ref10, rel=0.05)


def test_only_the_sharp_kernel_overshoots(config):
    f = np.linspace(0.0, 1.5, 3001)
    peaks = {k: float(mtf(f, s).max()) for k, s in config.kernel_specs.items()}
    assert peaks["sharp"] == pytest.approx(1.15, abs=0.02)
    assert f[np.argmax(mtf(f, config.kernel_specs["sharp"]))] == pytest.approx(0.29, abs=0.03)
    assert peaks["smooth"] == peaks["medium"] == 1.0


@pytest.mark.parametrize("kernel", REFERENCE_NPS_PEAK)
def test_nps_shape_peaks_where_the_reference_says(config, kernel):
    f = np.linspace(0.0, 1.5, 15001)
    peak = f[np.argmax(nps_shape(f, config.kernel_specs[kernel]))]
    assert peak == pytest.approx(REFERENCE_NPS_PEAK[kernel], abs=0.01)


@pytest.mark.parametrize("kernel", REFERENCE_MTF)
def test_reconstruction_applies_the_kernel_mtf(config, uniform, kernel):
    """Line spread function of a one-pixel line, Fourier transformed, is the kernel MTF."""
    line = np.zeros_like(uniform.true_hu)
    line[:, :, line.shape[2] // 2] = 1000.0
    acquisition = dataclasses.replace(uniform, true_hu=line, white_noise=np.zeros_like(line))
    image = reconstruct_hu(acquisition, config.kernel_specs[kernel], 1.0)
    lsf = image[image.shape[0] // 2, config.matrix_size // 2, :].astype(np.float64)
    measured = np.abs(np.fft.rfft(lsf))
    measured /= measured[0]
    f = np.fft.rfftfreq(lsf.size, config.pixel_spacing_mm)
    np.testing.assert_allclose(measured, mtf(f, config.kernel_specs[kernel]), atol=0.02)


# ---- noise -----------------------------------------------------------------------------


def test_noise_sd_matches_targets_and_scales_with_thickness(config, uniform):
    sd = {
        (k, t): float(_array(study.reconstruct(config, uniform, k, t)).std())
        for k in config.kernels
        for t in (1.0, 2.0)
    }
    for kernel in config.kernels:
        target = config.kernel_specs[kernel].noise_sd_1mm_hu
        assert sd[kernel, 1.0] == pytest.approx(target, rel=0.05)
        assert sd[kernel, 2.0] / sd[kernel, 1.0] == pytest.approx(1 / math.sqrt(2), rel=0.05)
    assert sd["smooth", 1.0] < sd["medium", 1.0] < sd["sharp", 1.0]
    assert sd["medium", 1.0] / sd["smooth", 1.0] == pytest.approx(1.45, rel=0.05)
    assert sd["sharp", 1.0] / sd["smooth", 1.0] == pytest.approx(2.8, rel=0.05)
    mean = _array(study.reconstruct(config, uniform, "sharp", 1.0)).mean()
    assert mean == pytest.approx(-870.0, abs=1.0)


@pytest.mark.parametrize("kernel", REFERENCE_NPS_PEAK)
def test_measured_nps_peaks_at_the_predicted_frequency(config, uniform, kernel):
    noise = reconstruct_hu(uniform, config.kernel_specs[kernel], 1.0) + 870.0
    power = (np.abs(np.fft.fft2(noise)) ** 2).mean(axis=0)
    f = np.hypot(*np.meshgrid(*(np.fft.fftfreq(n, config.pixel_spacing_mm) for n in power.shape)))
    bins = np.arange(0.0, 0.72, 0.02)
    which = np.digitize(f.ravel(), bins)
    radial = np.array([power.ravel()[which == i].mean() for i in range(1, len(bins))])
    peak = 0.5 * (bins[:-1] + bins[1:])[np.argmax(radial)]
    assert peak == pytest.approx(REFERENCE_NPS_PEAK[kernel], abs=0.03)


def _noise_only(acquisition: study.Acquisition, spec: KernelSpec) -> np.ndarray:
    zero = dataclasses.replace(acquisition, true_hu=np.zeros_like(acquisition.true_hu))
    return reconstruct_hu(zero, spec, 1.0)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_noise_is_shared_across_kernels_and_independent_across_patients(config, acquisitions):
    smooth, sharp = config.kernel_specs["smooth"], config.kernel_specs["sharp"]
    low = lambda a: gaussian_filter(a, (0, 3, 3))  # noqa: E731
    own_smooth, own_sharp = _noise_only(acquisitions[0], smooth), _noise_only(
        acquisitions[0], sharp
    )
    other_smooth = _noise_only(acquisitions[1], smooth)
    assert _corr(low(own_smooth), low(own_sharp)) > 0.8
    assert abs(_corr(low(own_smooth), low(other_smooth))) < 0.1
    assert abs(_corr(own_smooth, other_smooth)) < 0.05
    # The study's reconstruction carries exactly this noise on top of the object.
    clean = dataclasses.replace(
        acquisitions[0], white_noise=np.zeros_like(acquisitions[0].white_noise)
    )
    image = _array(study.reconstruct(config, acquisitions[0], "sharp", 1.0))
    residual = image - reconstruct_hu(clean, sharp, 1.0) - own_sharp
    assert np.abs(residual).max() <= 0.51


# ---- slice profile ---------------------------------------------------------------------


@pytest.mark.parametrize("thickness", [1.0, 2.0])
def test_measured_slice_profile_fwhm_is_the_nominal_thickness(config, uniform, thickness):
    """Move a one-sample-thin slab through a slice; the responses trace the SSP."""
    geometry = uniform.geometry
    fine_z = geometry.fine_z_mm()
    centres = geometry.slice_centres_mm(thickness)
    k = len(centres) // 2
    nearest = int(np.argmin(np.abs(fine_z - centres[k])))
    reach = int(round(1.5 * thickness / geometry.fine_z_step_mm))
    offsets, response = [], []
    for j in range(nearest - reach, nearest + reach + 1):
        slab = np.zeros_like(uniform.true_hu)
        slab[j] = 1000.0
        acquisition = dataclasses.replace(uniform, true_hu=slab, white_noise=np.zeros_like(slab))
        image = reconstruct_hu(acquisition, config.kernel_specs["medium"], thickness)
        offsets.append(fine_z[j] - centres[k])
        response.append(float(image[k].mean()))
    offsets, response = np.array(offsets), np.array(response)
    half = response.max() / 2
    above = np.flatnonzero(response >= half)
    lo, hi = above[0], above[-1]
    left = np.interp(half, response[[lo - 1, lo]], offsets[[lo - 1, lo]])
    right = np.interp(half, response[[hi + 1, hi]], offsets[[hi + 1, hi]])
    assert right - left == pytest.approx(thickness, rel=0.1)
    # Unit DC gain: the profile integrates to the slab's content (1000 HU x one sample).
    assert response.sum() == pytest.approx(1000.0, rel=0.01)


# ---- study API -------------------------------------------------------------------------


def test_patients_are_deterministic_and_independent_of_count_and_order(config, specs):
    small = study.PhantomConfig.from_params(_params(n_patients=10))
    assert study.draw_patient(small, 7) == specs[7] == study.draw_patient(config, 7)
    assert specs[3] != specs[4]
    other_seed = study.PhantomConfig.from_params(_params(seed=7))
    assert study.draw_patient(other_seed, 3) != specs[3]
    assert study.patient_ids(small)[:2] == ["PH001", "PH002"]
    assert (
        study.patient_ids(study.PhantomConfig.from_params(_params(n_patients=1200)))[-1] == "PH1200"
    )
    assert study.scan_id("PH001", "medium", 1) == "PH001_medium_1.0mm"


def test_rendering_and_reconstruction_are_bit_identical(config, specs, acquisitions):
    again = study.render_acquisition(config, specs[0])
    np.testing.assert_array_equal(again.true_hu, acquisitions[0].true_hu)
    np.testing.assert_array_equal(again.white_noise, acquisitions[0].white_noise)
    for kernel, thickness in [("smooth", 2.0), ("sharp", 1.0)]:
        first = _array(study.reconstruct(config, acquisitions[0], kernel, thickness))
        np.testing.assert_array_equal(
            first, _array(study.reconstruct(config, again, kernel, thickness))
        )
    other = study.draw_patient(study.PhantomConfig.from_params(_params(seed=7)), 0)
    different = study.render_acquisition(config, other)
    assert not np.array_equal(different.white_noise, acquisitions[0].white_noise)
    assert not np.array_equal(different.true_hu, acquisitions[0].true_hu)


def test_images_and_masks_share_geometry(config, specs, acquisitions):
    spec = specs[0]
    for kernel in config.kernels:
        for thickness in config.slice_thicknesses_mm:
            image = study.reconstruct(config, acquisitions[0], kernel, thickness)
            mask = study.nodule_mask(config, spec, kernel, thickness)
            assert image.GetPixelID() == sitk.sitkInt16 and mask.GetPixelID() == sitk.sitkUInt8
            for get in ("GetOrigin", "GetSpacing", "GetSize", "GetDirection"):
                assert getattr(image, get)() == getattr(mask, get)()
            assert image.GetSpacing() == pytest.approx((0.7, 0.7, thickness))
            assert image.GetSize() == (128, 128, round(64 / thickness))
            assert image.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
            assert set(np.unique(_array(mask))) == {0, 1}
    x0, y0, z0 = image.GetOrigin()
    assert 30 < max(abs(x0), abs(y0)) < 300 and -300 < z0 < -100  # scanner-like placement
    hu = _array(study.reconstruct(config, acquisitions[0], "smooth", 2.0))
    assert -920 < np.median(hu) < -820  # mostly lung
    assert hu.max() > 0  # vessels, nodule, chest wall


def test_nodule_and_fmcib_cube_lie_in_the_volume(config, specs):
    for spec in specs:
        image = study.nodule_mask(config, spec, "smooth", 2.0)
        bounds = study.volume_geometry(config, spec).bounds_mm()
        centre = np.array(study.nodule_centre_lps(spec))
        reach = spec.nodule.extent_mm()
        assert np.all(centre - reach >= bounds[:, 0]) and np.all(centre + reach <= bounds[:, 1])
        cube = np.stack([centre - 25.0, centre + 25.0], axis=1)
        inside = np.clip(
            np.minimum(cube[:, 1], bounds[:, 1]) - np.maximum(cube[:, 0], bounds[:, 0]), 0, None
        )
        assert np.prod(inside) / 50.0**3 > 0.7
        index = image.TransformPhysicalPointToIndex(tuple(centre))
        assert all(0 <= i < n for i, n in zip(index, image.GetSize()))


def test_mask_volume_matches_truth_volume(config, specs):
    checked = 0
    for spec in specs:
        if spec.nodule.diameter_mm < 6.0:
            continue
        truth = study.nodule_truth(config, spec)
        for kernel, thickness in [("medium", 1.0), ("medium", 2.0)]:
            mask = study.nodule_mask(config, spec, kernel, thickness)
            voxel = np.prod(mask.GetSpacing())
            volume = _array(mask).sum() * voxel
            assert volume == pytest.approx(truth["volume_mm3"], rel=0.1), spec.nodule
        checked += 1
    assert checked >= 10


def test_truth_is_consistent_with_the_drawn_nodule(config, specs):
    rows = [study.nodule_truth(config, spec) for spec in specs]
    keys = {
        "patient_id",
        "nodule_type",
        "margin",
        "diameter_mm",
        "volume_mm3",
        "centre_x_mm",
        "centre_y_mm",
        "centre_z_mm",
        "juxtapleural",
        "mean_hu",
    }
    assert all(set(r) == keys for r in rows)
    for row, spec in zip(rows, specs):
        assert row["patient_id"] == spec.patient_id
        assert (
            row["centre_x_mm"],
            row["centre_y_mm"],
            row["centre_z_mm"],
        ) == study.nodule_centre_lps(spec)
        sphere = math.pi / 6 * row["diameter_mm"] ** 3
        if spec.nodule.margin == "smooth" and not row["juxtapleural"]:
            assert row["volume_mm3"] == pytest.approx(sphere, rel=0.05)
        if row["nodule_type"] == "solid":
            assert -10 <= row["mean_hu"] <= 60
        elif row["nodule_type"] == "ground_glass":
            assert -700 <= row["mean_hu"] <= -450
        elif row["nodule_type"] == "part_solid":
            assert -700 < row["mean_hu"] < 60
    # Juxtapleural nodules are cut by the pleura: less volume than their free shape.
    touching = [r for r, s in zip(rows, specs) if r["juxtapleural"] and s.nodule.margin == "smooth"]
    assert touching and all(r["volume_mm3"] < math.pi / 6 * r["diameter_mm"] ** 3 for r in touching)


def test_drawn_population_covers_types_margins_and_sizes(specs, config):
    nodules = [s.nodule for s in specs]
    assert {n.nodule_type for n in nodules} == {"solid", "part_solid", "ground_glass", "calcified"}
    assert {n.margin for n in nodules} == {"smooth", "lobulated", "spiculated"}
    assert {n.juxtapleural for n in nodules} == {True, False}
    diameters = np.array([n.diameter_mm for n in nodules])
    assert diameters.min() >= 4.0 and diameters.max() <= 30.0
    assert 5.5 < np.median(diameters) < 9.0


def test_calcified_nodules_are_dense(config, specs):
    spec = next(s for s in specs if s.nodule.nodule_type == "calcified")
    acquisition = study.render_acquisition(config, spec)
    geometry = acquisition.geometry
    cx, cy, cz = spec.nodule.centre_lps_mm
    ix, iy, iz = (
        int(np.argmin(np.abs(c - v)))
        for c, v in (
            (geometry.axis_mm(0, True), cx),
            (geometry.axis_mm(1, True), cy),
            (geometry.fine_z_mm(), cz),
        )
    )
    assert acquisition.true_hu[iz, iy, ix] > 200
    image = study.reconstruct(config, acquisition, "smooth", 1.0)
    index = image.TransformPhysicalPointToIndex((cx, cy, cz))
    assert _array(image)[index[::-1]] > 150


def test_users_can_add_kernels_and_thicknesses(config, specs):
    params = _params(kernels=["smooth", "ultra"], slice_thicknesses_mm=[1.0, 3.0])
    params["kernel_specs"]["ultra"] = {"f0": 0.5, "p": 1.5, "b": 3.0, "noise_sd_1mm_hu": 150.0}
    custom = study.PhantomConfig.from_params(params)
    uniform = study.render_uniform_acquisition(custom)
    image = study.reconstruct(custom, uniform, "ultra", 3.0)
    assert image.GetSize()[2] == 21 and image.GetSpacing()[2] == 3.0
    assert _array(study.reconstruct(custom, uniform, "ultra", 1.0)).std() == pytest.approx(
        150, rel=0.05
    )
    with pytest.raises(ValueError, match="unknown kernel 'bone'.*kernel_specs"):
        study.reconstruct(custom, uniform, "bone", 1.0)
    with pytest.raises(ValueError, match="slice thickness 5.0 mm"):
        study.reconstruct(custom, uniform, "smooth", 5.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_patients": -1}, r"ingestion\.phantom\.n_patients must be a positive integer, got -1"),
        ({"n_patients": 2.5}, r"ingestion\.phantom\.n_patients"),
        ({"seed": "x"}, r"ingestion\.phantom\.seed"),
        (
            {"kernels": ["smooth", "ultra"]},
            r"ingestion\.phantom\.kernels lists 'ultra'.*kernel_specs",
        ),
        ({"kernels": []}, r"ingestion\.phantom\.kernels"),
        ({"kernels": ["smooth", "smooth"]}, r"ingestion\.phantom\.kernels has repeated"),
        (
            {"kernel_specs__sharp": {"p": 1.6, "noise_sd_1mm_hu": 98.0}},
            r"ingestion\.phantom\.kernel_specs\.sharp\.f0 is missing",
        ),
        (
            {"kernel_specs__medium__noise_sd_1mm_hu": 0},
            r"ingestion\.phantom\.kernel_specs\.medium\.noise_sd_1mm_hu",
        ),
        ({"slice_thicknesses_mm": [1.0, -2.0]}, r"ingestion\.phantom\.slice_thicknesses_mm\[1\]"),
        (
            {"slice_thicknesses_mm": [1.0, 1.04]},
            r"ingestion\.phantom\.slice_thicknesses_mm .* 0\.1 mm",
        ),
        ({"pixel_spacing_mm": 0}, r"ingestion\.phantom\.pixel_spacing_mm"),
        ({"matrix_size": 64}, r"ingestion\.phantom\.matrix_size x pixel_spacing_mm"),
        ({"z_extent_mm": 40.0}, r"ingestion\.phantom\.z_extent_mm"),
        ({"fine_z_step_mm": 1.0}, r"ingestion\.phantom\.fine_z_step_mm"),
        (
            {"nodule__type_probabilities": {"solid": 0.5}},
            r"ingestion\.phantom\.nodule\.type_probabilities must sum to 1",
        ),
        (
            {"nodule__margin_probabilities": {"round": 1.0}},
            r"ingestion\.phantom\.nodule\.margin_probabilities has unknown",
        ),
        ({"nodule__diameter_max_mm": 3.0}, r"ingestion\.phantom\.nodule\.diameter_max_mm"),
        ({"n_patient": 3}, r"ingestion\.phantom has unknown parameters \['n_patient'\]"),
        (
            {"nodule__juxtapleural": 0.2},
            r"ingestion\.phantom\.nodule has unknown parameters \['juxtapleural'\]",
        ),
        (
            {"kernel_specs__smooth__fo": 0.4},
            r"ingestion\.phantom\.kernel_specs\.smooth has unknown parameters",
        ),
    ],
)
def test_invalid_parameters_name_the_parameter(changes, message):
    with pytest.raises(ValueError, match=message):
        study.PhantomConfig.from_params(_params(**changes))
