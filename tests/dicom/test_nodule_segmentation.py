"""Seeded nodule segmentation and mask propagation, on synthetic volumes and the phantom."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from lung_fm_robustness.nodule_segmentation import (
    SegmentationError,
    SegmentationSettings,
    mask_on_grid,
    segment_nodule,
    segmentation_box,
)
from lung_fm_robustness.phantom import study as phantom
from lung_fm_robustness.voxel_grid import VoxelGrid

SETTINGS = SegmentationSettings()


def _segment(image: sitk.Image, seed, diameter_mm=None, settings=SETTINGS) -> np.ndarray:
    """The mask on the whole image's grid, segmented from the box around the seed only."""
    grid = VoxelGrid.of(image)
    radius = settings.sphere_radius_mm(diameter_mm)
    start, size = segmentation_box(grid, seed, radius, settings)
    region = sitk.RegionOfInterest(image, size, start)
    return sitk.GetArrayFromImage(mask_on_grid(segment_nodule(region, seed, radius, settings), grid)).astype(
        bool
    )


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _scene(shapes, spacing=(0.5, 0.5, 0.5), size=(48, 48, 48), origin=(-12.0, -12.0, -12.0)):
    """-850 HU lung with 40 HU shapes (functions of LPS points -> bool); also the points."""
    image = sitk.Image(size, sitk.sitkInt16)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    index = np.indices(size[::-1]).reshape(3, -1)[::-1].T
    points = (np.array(origin) + index * spacing).reshape(*size[::-1], 3)
    hu = np.full(size[::-1], -850, np.int16)
    for shape, value in shapes:
        hu[shape(points)] = value
    result = sitk.GetImageFromArray(hu)
    result.CopyInformation(image)
    return result, points


def _ball(centre, radius):
    return lambda p: np.linalg.norm(p - np.array(centre), axis=-1) <= radius


def _vessel(p):  # 1.2 mm thick, along +x from the nodule centre
    return (p[..., 0] >= 0) & (np.hypot(p[..., 1], p[..., 2]) <= 0.6)


def test_the_opening_cuts_a_thin_vessel_and_holes_are_filled():
    image, points = _scene([(_ball((0, 0, 0), 4.0), 40), (_vessel, 40), (_ball((0.5, 0, 0), 1.5), -900)])
    mask = _segment(image, (0.0, 0.0, 0.0))
    assert mask[_ball((0.5, 0, 0), 1.2)(points)].all()  # the cavity is filled
    assert not mask[points[..., 0] > 5.0].any()  # the vessel is cut at the nodule's surface
    no_opening = _segment(image, (0.0, 0.0, 0.0), settings=SegmentationSettings(opening_mm=0.0))
    assert no_opening[(points[..., 0] > 5.0) & (points[..., 0] < 8.5)].any()  # it would leak to the sphere
    assert not no_opening[points[..., 0] > 9.0 + 0.5].any()  # but never past the sphere


def test_a_seed_beside_the_nodule_snaps_to_it_and_a_seed_in_the_lung_is_an_error():
    image, points = _scene([(_ball((0, 0, 0), 4.0), 40)])
    assert _dice(_segment(image, (5.0, 0.0, 0.0)), _ball((0, 0, 0), 4.0)(points)) > 0.9  # 1 mm off
    with pytest.raises(
        SegmentationError, match=r"No voxel at or above -500 HU within 3 mm of the seed \(9\.0, 0\.0, 0\.0\)"
    ):
        _segment(image, (9.0, 0.0, 0.0), 8.0)


def test_a_mask_carried_onto_another_grid_keeps_its_physical_region():
    image, points = _scene([(_ball((1.0, -2.0, 0.5), 5.0), 40)], spacing=(0.7, 0.7, 1.0), size=(40, 40, 26))
    reference = VoxelGrid.of(image)
    radius = SETTINGS.sphere_radius_mm(10.0)
    start, size = segmentation_box(reference, (1.0, -2.0, 0.5), radius, SETTINGS)
    region_mask = segment_nodule(
        sitk.RegionOfInterest(image, size, start), (1.0, -2.0, 0.5), radius, SETTINGS
    )
    on_reference = mask_on_grid(region_mask, reference)
    target = VoxelGrid((36, 36, 14), (0.8, 0.8, 2.0), (-13.3, -14.1, -12.6), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    on_target = mask_on_grid(on_reference, target)

    def physical(mask: sitk.Image) -> tuple[np.ndarray, float]:
        grid = VoxelGrid.of(mask)
        index = np.argwhere(sitk.GetArrayFromImage(mask))[:, ::-1]
        return np.mean([grid.physical_point(i) for i in index], axis=0), len(index) * np.prod(grid.spacing)

    (c_ref, v_ref), (c_target, v_target) = physical(on_reference), physical(on_target)
    assert np.all(np.abs(c_target - c_ref) <= np.array(target.spacing) / 2)  # nearest neighbour's reach
    assert v_target == pytest.approx(v_ref, rel=0.1)
    assert (
        sitk.GetArrayFromImage(mask_on_grid(on_reference, reference)).tolist()
        == sitk.GetArrayFromImage(on_reference).tolist()
    )


def _solid_phantom_patients(config, count):
    found = []
    for i in range(40):
        spec = phantom.draw_patient(config, i)
        truth = phantom.nodule_truth(config, spec)
        if truth["nodule_type"] == "solid" and truth["diameter_mm"] >= 6.0:
            found.append((spec, truth))
        if len(found) == count:
            return found
    raise AssertionError("the phantom draws too few solid nodules >= 6 mm")


def test_seed_segmentation_matches_the_phantom_truth_of_solid_nodules():
    config = phantom.PhantomConfig.from_params({**phantom.DEFAULT_PARAMS, "n_patients": 40})
    for spec, truth in _solid_phantom_patients(config, 5):
        acquisition = phantom.render_acquisition(config, spec)
        seed = phantom.nodule_centre_lps(spec)
        for kernel in config.kernels:
            for thickness in config.slice_thicknesses_mm:
                image = phantom.reconstruct(config, acquisition, kernel, thickness)
                expected = sitk.GetArrayFromImage(phantom.nodule_mask(config, spec, kernel, thickness)) > 0
                dice = _dice(_segment(image, seed, round(truth["diameter_mm"], 1)), expected)
                assert dice > 0.7, (
                    spec.patient_id,
                    truth["diameter_mm"],
                    truth["juxtapleural"],
                    kernel,
                    thickness,
                    dice,
                )


def test_settings_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['lower'\] in ingestion\.masks\.segmentation"):
        SegmentationSettings.from_params({"lower": -500})
    with pytest.raises(ValueError, match=r"ingestion\.masks\.segmentation\.opening_mm must be >= 0, got -1"):
        SegmentationSettings.from_params({"opening_mm": -1})
    with pytest.raises(
        ValueError, match=r"ingestion\.masks\.segmentation\.lower_hu must be a number, got 'x'"
    ):
        SegmentationSettings.from_params({"lower_hu": "x"})
    assert SegmentationSettings.from_params({"upper_hu": None, "lower_hu": -400}).lower_hu == -400.0
