"""The cube montage: lung window in cube units, radiological orientation, one panel per
patient, plane and condition."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from matplotlib.figure import Figure

from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.fm.cube_montage import LUNG_WINDOW_HU, mid_slices, window_in_cube_units
from lung_fm_robustness.pipelines.preprocessing.nodes import plot_fm_cube_montage


def test_lung_window_in_cube_units():
    low, high = window_in_cube_units(*LUNG_WINDOW_HU)  # -1350 .. 150 HU
    assert low == pytest.approx((-1350 + 1024) / 3072) and high == pytest.approx((150 + 1024) / 3072)


def test_mid_slices_are_shown_the_radiological_way():
    """Markers at known (z, y, x) offsets from the centre land where a radiologist expects."""
    cube = np.zeros((50, 50, 50), dtype=np.float32)
    cube[25, 10, 25] = 1.0  # anterior of the centre (y runs posterior)
    cube[25, 25, 40] = 2.0  # to the patient's left (x runs left)
    cube[45, 25, 25] = 3.0  # superior (z runs superior)
    planes = mid_slices(cube)
    assert {k: v.shape for k, v in planes.items()} == {p: (50, 50) for p in ("axial", "coronal", "sagittal")}
    assert np.argwhere(planes["axial"] == 1.0).tolist() == [[10, 25]]  # anterior: top half
    assert np.argwhere(planes["axial"] == 2.0).tolist() == [[25, 40]]  # left: right half
    assert np.argwhere(planes["coronal"] == 3.0).tolist() == [[4, 25]]  # superior: top
    assert np.argwhere(planes["coronal"] == 2.0).tolist() == [[24, 40]]
    assert np.argwhere(planes["sagittal"] == 3.0).tolist() == [[4, 25]]
    assert np.argwhere(planes["sagittal"] == 1.0).tolist() == [[24, 10]]  # anterior: left


def _scans_and_cubes(n_patients: int):
    rows, cubes = [], {}
    for p in range(n_patients):
        for kernel in ("smooth", "sharp"):
            for thickness in (1.0, 2.0):
                scan = f"P{p}_{kernel}_{thickness}"
                rows.append({"scan_id": scan, "patient_id": f"P{p}", "kernel": kernel, "slice_thickness_mm": thickness})
                cube = sitk.GetImageFromArray(np.full((50, 50, 50), p / 10, dtype=np.float32))
                cubes[scan] = lambda cube=cube: cube
    return ScanTable(pd.DataFrame(rows).set_index("scan_id", drop=False)), cubes


def test_node_draws_the_first_patients_under_every_condition():
    scans, cubes = _scans_and_cubes(4)
    loaded = []
    lazy = {k: (lambda k=k, f=f: loaded.append(k) or f()) for k, f in cubes.items()}
    figure = plot_fm_cube_montage(scans, lazy, {"resampling": "exact", "montage": {"n_patients": 2}})
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2 * 3 * 4  # patients x planes x conditions
    assert sorted(loaded) == sorted(k for k in cubes if k.startswith(("P0", "P1")))  # only those read
    assert [ax.get_title() for ax in figure.axes[:4]] == ["smooth 1.0 mm", "smooth 2.0 mm", "sharp 1.0 mm", "sharp 2.0 mm"]
    assert figure.axes[4].get_ylabel() == "P0\ncoronal"
    assert "resampling: exact" in figure.get_suptitle() and "W1500 / L-600" in figure.get_suptitle()


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "3"])
def test_node_names_a_bad_patient_count(value):
    scans, cubes = _scans_and_cubes(1)
    with pytest.raises(ValueError, match=r"fm\.montage\.n_patients must be a positive integer"):
        plot_fm_cube_montage(scans, cubes, {"resampling": "fmcib", "montage": {"n_patients": value}})
