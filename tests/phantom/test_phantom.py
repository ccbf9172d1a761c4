"""The phantom reproduces the physics it claims, measured from its own images.

The measurements are the phantom QA's (``phantom.qa``): test objects through the study's
reconstruction, measured by ``phantom.image_quality`` (slanted-edge MTF, ROI noise and NPS,
inclined-plate slice profile) and compared with the specification. Then the study API is
checked for determinism, geometry, masks, ground truth and parameter validation.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from scipy.ndimage import gaussian_filter

from lung_fm_robustness.phantom import qa, qa_objects, study
from lung_fm_robustness.phantom.anatomy import pleural_depth
from lung_fm_robustness.phantom.kernels import (
    KernelSpec,
    mtf,
    mtf50_mtf10,
    mtf_maximum,
    nps_peak_lpmm,
)
from lung_fm_robustness.phantom.reconstruction import reconstruct_hu

REFERENCE_MTF = {"smooth": (0.35, 0.59), "medium": (0.45, 0.75), "sharp": (0.68, 0.98)}
REFERENCE_NPS_PEAK = {"smooth": 0.21, "medium": 0.27, "sharp": 0.40}
REFERENCE_NOISE_RATIO = {"smooth": 1.0, "medium": 1.45, "sharp": 2.8}
CONF = Path(__file__).resolve().parents[2] / "conf" / "base"


@pytest.fixture(scope="module")
def config() -> study.PhantomConfig:
    return study.PhantomConfig.from_params(study.DEFAULT_PARAMS)


@pytest.fixture(scope="module")
def tolerances() -> dict[str, float]:
    params = yaml.safe_load((CONF / "parameters_phantom_qa.yml").read_text(encoding="utf-8"))
    return qa.tolerances_from_params(params["phantom_qa"])


@pytest.fixture(scope="module")
def measured(config, tolerances) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The QA table and curves of the default phantom."""
    return qa.measure_phantom(config, tolerances)


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


def _measured(table: pd.DataFrame, quantity: str) -> dict[tuple[str, float], float]:
    rows = table[table["quantity"] == quantity]
    return {(r.kernel, r.slice_thickness_mm): r.measured for r in rows.itertuples()}


# ---- kernel specification ----------------------------------------------------------------


def test_conf_specifies_the_reference_kernels_and_default_params_match_it():
    params = yaml.safe_load((CONF / "parameters_ingestion.yml").read_text(encoding="utf-8"))
    assert params["ingestion"]["phantom"] == study.DEFAULT_PARAMS


@pytest.mark.parametrize("kernel", REFERENCE_MTF)
def test_fitted_mtf_model_has_the_specified_mtf50_mtf10_and_peak(config, kernel):
    spec = config.kernel_specs[kernel]
    assert (spec.mtf50_lpmm, spec.mtf10_lpmm) == REFERENCE_MTF[kernel]
    assert mtf50_mtf10(spec) == pytest.approx((spec.mtf50_lpmm, spec.mtf10_lpmm), rel=1e-6)
    assert mtf_maximum(spec)[1] == pytest.approx(spec.mtf_peak, rel=1e-6)


def test_only_the_sharp_kernel_overshoots_as_the_reference_fit_does(config):
    sharp = config.kernel_specs["sharp"]
    # shared/reference/ct-physics.md: f0 0.360, p 1.62, b 2.04, peak ~1.15 near 0.29 lp/mm
    assert (sharp.f0, sharp.p, sharp.b) == pytest.approx((0.360, 1.62, 2.04), rel=0.01)
    assert mtf_maximum(sharp) == pytest.approx((0.29, 1.15), abs=0.02)
    for kernel in ("smooth", "medium"):
        assert (
            config.kernel_specs[kernel].b == 0.0
            and mtf_maximum(config.kernel_specs[kernel])[1] == 1.0
        )


@pytest.mark.parametrize("kernel", REFERENCE_NPS_PEAK)
def test_predicted_nps_peaks_where_the_reference_says(config, kernel):
    assert nps_peak_lpmm(config.kernel_specs[kernel]) == pytest.approx(
        REFERENCE_NPS_PEAK[kernel], abs=0.01
    )


# ---- measured from the images: MTF -------------------------------------------------------


def test_every_qa_check_passes_with_the_configured_tolerances(measured, config):
    table, _ = measured
    n_conditions = len(config.kernels) * len(config.slice_thicknesses_mm)
    assert len(table) == 6 * n_conditions + 2 * 2 + 3  # + noise ratios across kernels, thicknesses
    assert table["passed"].all(), table[~table["passed"]].to_string()


@pytest.mark.parametrize("quantity", ["mtf50", "mtf10"])
def test_measured_mtf50_mtf10_within_10_percent_of_target(measured, config, quantity):
    values = _measured(measured[0], quantity)
    for (kernel, thickness), value in values.items():
        target = getattr(config.kernel_specs[kernel], f"{quantity}_lpmm")
        assert value == pytest.approx(target, rel=0.10), (kernel, thickness)
    assert len(values) == 6


@pytest.mark.parametrize("kernel", REFERENCE_MTF)
def test_measured_mtf_curve_is_the_kernel_curve(measured, config, kernel):
    """Not only two points: the edge-measured MTF follows the kernel's MTF everywhere."""
    curves = measured[1]
    curve = curves[(curves["curve"] == "mtf") & (curves["kernel"] == kernel)]
    expected = mtf(curve["x"].to_numpy(), config.kernel_specs[kernel])
    np.testing.assert_allclose(curve["y"], expected, atol=0.02)


def test_sharp_kernel_overshoots_at_mid_frequency(measured):
    table, curves = measured
    peaks = _measured(table, "mtf_peak")
    sharp = curves[(curves["curve"] == "mtf") & (curves["kernel"] == "sharp")]
    assert peaks["sharp", 1.0] > 1.1 and peaks["sharp", 2.0] > 1.1
    assert 0.2 < sharp["x"].iloc[int(np.argmax(sharp["y"]))] < 0.4
    assert all(peaks[k, t] < 1.001 for k in ("smooth", "medium") for t in (1.0, 2.0))


# ---- measured from the images: noise -----------------------------------------------------


def test_measured_noise_sd_matches_targets_ordered_with_the_reference_ratios(measured, config):
    table = measured[0]
    sd = _measured(table, "noise_sd")
    for thickness in (1.0, 2.0):
        assert sd["smooth", thickness] < sd["medium", thickness] < sd["sharp", thickness]
        for kernel, ratio in REFERENCE_NOISE_RATIO.items():
            measured_ratio = sd[kernel, thickness] / sd["smooth", thickness]
            assert measured_ratio == pytest.approx(ratio, rel=0.15), (kernel, thickness)
    for kernel in config.kernels:
        target = config.kernel_specs[kernel].noise_sd_1mm_hu
        assert sd[kernel, 1.0] == pytest.approx(target, rel=0.05)
    assert _measured(table, "noise_sd_ratio") == pytest.approx(
        {(k, t): sd[k, t] / sd["smooth", t] for k in ("medium", "sharp") for t in (1.0, 2.0)}
    )


def test_noise_falls_as_one_over_root_thickness(measured):
    ratios = _measured(measured[0], "noise_sd_thickness_ratio")
    assert set(ratios) == {(k, 2.0) for k in REFERENCE_MTF}
    for ratio in ratios.values():
        assert ratio == pytest.approx(1 / math.sqrt(2), rel=0.10)


@pytest.mark.parametrize("kernel", REFERENCE_NPS_PEAK)
def test_measured_nps_peaks_at_the_predicted_frequency(measured, kernel):
    peaks = _measured(measured[0], "nps_peak")
    for thickness in (1.0, 2.0):
        assert peaks[kernel, thickness] == pytest.approx(REFERENCE_NPS_PEAK[kernel], rel=0.10)


def test_reconstruction_keeps_the_object_level(config):
    """Unit gain at zero frequency, in-plane and along z: a uniform object keeps its HU."""
    uniform = qa_objects.uniform_acquisition(config, seed=0)
    for kernel, thickness in [("sharp", 1.0), ("smooth", 2.0)]:
        assert _array(study.reconstruct(config, uniform, kernel, thickness)).mean() == (
            pytest.approx(qa_objects.UNIFORM_HU, abs=1.0)
        )


def _noise_only(acquisition: study.Acquisition, spec: KernelSpec, thickness: float) -> np.ndarray:
    zero = dataclasses.replace(acquisition, true_hu=np.zeros_like(acquisition.true_hu))
    return reconstruct_hu(zero, spec, thickness)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_noise_is_shared_within_a_patient_and_independent_across_patients(config, acquisitions):
    """One acquisition, several reconstructions: same quantum noise, filtered differently."""
    smooth, sharp = config.kernel_specs["smooth"], config.kernel_specs["sharp"]
    low = lambda a: gaussian_filter(a, (0, 3, 3))  # noqa: E731  (below ~0.1 lp/mm)
    own_smooth = _noise_only(acquisitions[0], smooth, 1.0)
    own_sharp = _noise_only(acquisitions[0], sharp, 1.0)
    other_smooth = _noise_only(acquisitions[1], smooth, 1.0)
    assert _corr(low(own_smooth), low(own_sharp)) > 0.95
    assert abs(_corr(low(own_smooth), low(other_smooth))) < 0.05
    assert abs(_corr(own_smooth, other_smooth)) < 0.05
    # Across thicknesses too: a 2 mm slice carries the noise of the two 1 mm slices in it.
    medium = config.kernel_specs["medium"]
    thin, thick = _noise_only(acquisitions[0], medium, 1.0), _noise_only(
        acquisitions[0], medium, 2.0
    )
    assert _corr(low(0.5 * (thin[0::2] + thin[1::2])), low(thick)) > 0.95
    # The study's reconstruction carries exactly this noise on top of the object.
    clean = dataclasses.replace(
        acquisitions[0], white_noise=np.zeros_like(acquisitions[0].white_noise)
    )
    image = _array(study.reconstruct(config, acquisitions[0], "sharp", 1.0))
    residual = image - reconstruct_hu(clean, sharp, 1.0) - own_sharp
    assert np.abs(residual).max() <= 0.51


# ---- measured from the images: slice profile ---------------------------------------------


def test_measured_slice_profile_fwhm_is_the_nominal_thickness(measured):
    fwhm = _measured(measured[0], "ssp_fwhm")
    assert len(fwhm) == 6
    for (kernel, thickness), value in fwhm.items():
        assert value == pytest.approx(thickness, rel=0.10), kernel


def test_slice_profile_fwhm_is_configurable_and_measured(tolerances):
    custom = study.PhantomConfig.from_params(
        _params(kernels=["medium"], slice_profile_fwhm_mm={2.0: 2.6})
    )
    table, _ = qa.measure_phantom(custom, tolerances)
    assert table["passed"].all(), table[~table["passed"]].to_string()
    assert _measured(table, "ssp_fwhm")["medium", 2.0] == pytest.approx(2.6, rel=0.05)
    assert _measured(table, "noise_sd_thickness_ratio")["medium", 2.0] == pytest.approx(
        math.sqrt(1.0 / 2.6), rel=0.05
    )


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


def test_juxtapleural_flag_is_contact_with_the_pleura_and_centres_are_inside(specs):
    """The truth's juxtapleural flag is geometry: the nodule body crosses the pleura or not."""
    for spec in specs:
        nodule, step = spec.nodule, 0.3
        x, y, z = (
            c + np.arange(-nodule.extent_mm(), nodule.extent_mm() + step, step)
            for c in nodule.centre_lps_mm
        )
        grid = (x[None, None, :], y[None, :, None], z[:, None, None])
        inside = nodule.occupancy_and_hu(*grid)[0] >= 0.5
        depth = np.broadcast_to(pleural_depth(spec.anatomy, *grid), inside.shape)[inside]
        assert (depth.max() > 0) == nodule.juxtapleural, spec.patient_id
        assert nodule.occupancy_and_hu(*nodule.centre_lps_mm)[0] > 0.9  # the seed is in the nodule
        assert pleural_depth(spec.anatomy, *nodule.centre_lps_mm) < 0  # ... and in the lung


def test_tissue_values_follow_the_reference_note(specs):
    """shared/reference/ct-physics.md, "Tissue values (HU)"."""
    for spec in specs:
        anatomy, nodule = spec.anatomy, spec.nodule
        assert -900 <= anatomy.lung_hu <= -850 and 35 <= anatomy.vessel_hu <= 50
        assert 40 <= anatomy.muscle_hu <= 60 and -110 <= anatomy.fat_hu <= -90
        solid, glass = (-10 <= nodule.hu <= 60), (-700 <= nodule.hu <= -450)
        if nodule.nodule_type == "solid":
            assert solid and nodule.core_fraction == 0
        elif nodule.nodule_type == "ground_glass":
            assert glass and nodule.core_fraction == 0
        elif nodule.nodule_type == "part_solid":
            assert glass and -10 <= nodule.core_hu <= 60 and nodule.core_fraction > 0
        else:  # calcified: diffusely, or a calcified core in a solid body
            assert nodule.core_hu > 200 and (
                nodule.hu > 200 or (solid and nodule.core_fraction > 0)
            )


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


def test_users_can_add_kernels_and_thicknesses(tolerances):
    params = _params(kernels=["smooth", "ultra"], slice_thicknesses_mm=[1.0, 3.0])
    params["kernel_specs"]["ultra"] = {
        "mtf50_lpmm": 0.8,
        "mtf10_lpmm": 1.1,
        "mtf_peak": 1.2,
        "noise_sd_1mm_hu": 150.0,
    }
    custom = study.PhantomConfig.from_params(params)
    table, _ = qa.measure_phantom(custom, tolerances)
    assert table["passed"].all(), table[~table["passed"]].to_string()
    assert set(table["kernel"]) == {"smooth", "ultra"}
    assert set(table["slice_thickness_mm"]) == {1.0, 3.0}
    uniform = qa_objects.uniform_acquisition(custom, seed=0)
    image = study.reconstruct(custom, uniform, "ultra", 3.0)
    assert image.GetSize()[2] == 21 and image.GetSpacing()[2] == 3.0
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
            {"kernel_specs__sharp": {"mtf10_lpmm": 0.98, "noise_sd_1mm_hu": 98.0}},
            r"ingestion\.phantom\.kernel_specs\.sharp\.mtf50_lpmm is missing",
        ),
        (
            {"kernel_specs__smooth__mtf10_lpmm": 0.3},
            r"ingestion\.phantom\.kernel_specs\.smooth\.mtf10_lpmm must be .* \(0\.35, ",
        ),
        (
            {"kernel_specs__sharp__mtf_peak": 0.9},
            r"ingestion\.phantom\.kernel_specs\.sharp\.mtf_peak must be .* \[1\.0, 2\.0\]",
        ),
        (
            {"kernel_specs__sharp__mtf10_lpmm": 0.7},
            r"ingestion\.phantom\.kernel_specs\.sharp: no MTF .* MTF50 0\.68, MTF10 0\.7 ",
        ),
        (
            {
                "kernel_specs__sharp": {
                    "mtf50_lpmm": 0.55,
                    "mtf10_lpmm": 0.85,
                    "mtf_peak": 1.3,
                    "noise_sd_1mm_hu": 98.0,
                }
            },
            r"ingestion\.phantom\.kernel_specs\.sharp: .* dips below 0\.98",
        ),
        (
            {"kernel_specs__smooth__mtf10_lpmm": 2.0},
            r"ingestion\.phantom\.kernel_specs\.smooth: .* p = 0\.69",
        ),
        (
            {"slice_profile_fwhm_mm": {3.0: 3.0}},
            r"ingestion\.phantom\.slice_profile_fwhm_mm has an entry for 3\.0, which is not one",
        ),
        (
            {"slice_profile_fwhm_mm": {1.0: 0.2}},
            r"ingestion\.phantom\.slice_profile_fwhm_mm\[1\.0\] must be",
        ),
        (
            {"slice_profile_fwhm_mm": [1.0, 2.0]},
            r"ingestion\.phantom\.slice_profile_fwhm_mm must map slice thicknesses",
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
            {"kernel_specs__smooth__f0": 0.4},
            r"ingestion\.phantom\.kernel_specs\.smooth has unknown parameters",
        ),
    ],
)
def test_invalid_parameters_name_the_parameter(changes, message):
    with pytest.raises(ValueError, match=message):
        study.PhantomConfig.from_params(_params(**changes))
