"""The phantom_qa pipeline's nodes: table, curves, metrics, figures and their parameters."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure

from lung_fm_robustness.phantom import gallery, qa, study
from lung_fm_robustness.phantom.nodules import NODULE_TYPES
from lung_fm_robustness.pipelines.phantom_qa import nodes

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"


def _conf(name: str) -> dict:
    return yaml.safe_load((CONF / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def phantom() -> dict:
    return _conf("parameters_ingestion.yml")["ingestion"]["phantom"]


@pytest.fixture(scope="module")
def phantom_qa() -> dict:
    return _conf("parameters_phantom_qa.yml")["phantom_qa"]


@pytest.fixture(scope="module")
def outputs(phantom, phantom_qa) -> tuple[pd.DataFrame, pd.DataFrame]:
    return nodes.measure_phantom(phantom, phantom_qa)


def test_table_and_curves_have_the_documented_columns_and_survive_csv(outputs, tmp_path):
    table, curves = outputs
    assert list(table.columns) == qa.TABLE_COLUMNS and list(curves.columns) == qa.CURVE_COLUMNS
    assert list(dict.fromkeys(table["quantity"])) == list(qa.QUANTITIES)
    assert set(curves["curve"]) == {"mtf", "nps", "ssp"}
    for frame, name in ((table, "table.csv"), (curves, "curves.csv")):
        frame.to_csv(tmp_path / name, index=False)
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), frame, check_exact=False)


def test_metrics_have_stable_keys_and_the_measured_values(outputs):
    table, _ = outputs
    metrics = nodes.qa_metrics_for_tracking(table)
    sharp = table[(table["quantity"] == "mtf50") & (table["kernel"] == "sharp")]
    assert metrics["phantom_qa.sharp_1.0.mtf50"] == {
        "value": sharp["measured"].iloc[0],
        "step": 0,
    }
    assert metrics["phantom_qa.n_failed"] == {"value": 0.0, "step": 0}
    assert {"phantom_qa.smooth_2.0.ssp_fwhm", "phantom_qa.medium_2.0.noise_sd_ratio"} <= set(
        metrics
    )
    assert len(metrics) == len(table) + 1


def test_curves_figure_has_mtf_nps_and_ssp_panels(outputs, phantom, tmp_path):
    table, curves = outputs
    figure = nodes.plot_qa_curves(curves, table, phantom)
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert [t.split(",")[0] for t in titles] == ["MTF", "NPS", "Slice sensitivity profile"]
    figure.savefig(tmp_path / "qa.png")
    assert (tmp_path / "qa.png").stat().st_size > 10_000


def test_failing_checks_are_flagged_and_logged(phantom, phantom_qa, caplog):
    strict = copy.deepcopy(phantom_qa)
    strict["tolerances"]["ssp_fwhm"] = 0.01  # the 1 mm profile measures 4 % wide
    with caplog.at_level(logging.WARNING):
        table, _ = nodes.measure_phantom(phantom, strict)
    failed = table[~table["passed"]]
    assert set(failed["quantity"]) == {"ssp_fwhm"}
    assert "checks fail: ssp_fwhm smooth 1.0 mm" in caplog.text
    assert nodes.qa_metrics_for_tracking(table)["phantom_qa.n_failed"]["value"] == len(failed)


@pytest.mark.parametrize(
    ("tolerances", "message"),
    [
        (None, r"phantom_qa\.tolerances must be a mapping"),
        ({"mtf50": 0.1}, r"phantom_qa\.tolerances must give exactly .* missing \['mtf10'"),
        ({**dict.fromkeys(qa.QUANTITIES, 0.1), "mtf": 0.1}, r"unknown \['mtf'\]"),
        ({**dict.fromkeys(qa.QUANTITIES, 0.1), "nps_peak": 0}, r"tolerances\.nps_peak must be"),
        ({**dict.fromkeys(qa.QUANTITIES, 0.1), "mtf50": "10%"}, r"tolerances\.mtf50 must be"),
    ],
)
def test_invalid_tolerances_name_the_parameter(tolerances, message):
    with pytest.raises(ValueError, match=message):
        qa.tolerances_from_params({"tolerances": tolerances})


def test_first_patient_of_each_type_is_the_first_drawn(phantom):
    config = study.PhantomConfig.from_params(phantom)
    first = gallery.first_patient_of_each_type(config)
    assert list(first) == list(NODULE_TYPES) and None not in first.values()
    types = [
        study.draw_patient(config, i).nodule.nodule_type for i in range(max(first.values()) + 1)
    ]
    assert all(types.index(t) == i for t, i in first.items())
    few = study.PhantomConfig.from_params({**phantom, "n_patients": 2})
    assert sum(i is None for i in gallery.first_patient_of_each_type(few).values()) >= 2


def test_gallery_crops_every_condition_around_the_nodule(phantom, tmp_path):
    config = study.PhantomConfig.from_params({**phantom, "n_patients": 2})
    rows = gallery.gallery_rows(config)
    assert [r.nodule_type for r in rows] == list(NODULE_TYPES)
    conditions = [(k, t) for k in config.kernels for t in config.slice_thicknesses_mm]
    shown = [r for r in rows if r.crops]
    assert shown and all(set(r.crops) == set(conditions) for r in shown)
    assert all("none among" in r.label for r in rows if not r.crops)
    solid = next(r for r in shown if r.nodule_type == "solid")
    for array, (left, right, bottom, top) in solid.crops.values():
        assert left < 0 < right and top < 0 < bottom  # the centre is inside, anterior up
        assert right - left >= 2 * gallery.MIN_CROP_HALF_WIDTH_MM
        centre = array[
            round(-top / config.pixel_spacing_mm), round(-left / config.pixel_spacing_mm)
        ]
        assert centre > -200 and np.median(array) < -700  # nodule in lung
    figure = gallery.gallery_figure(rows, conditions)
    assert len(figure.axes) == len(NODULE_TYPES) * len(conditions)
    assert "W1500 / L-600" in figure.get_suptitle()
    figure.savefig(tmp_path / "gallery.png")
    assert (tmp_path / "gallery.png").stat().st_size > 10_000


def test_gallery_node_draws_one_row_per_type(phantom):
    figure = nodes.draw_nodule_gallery({**phantom, "n_patients": 1})
    assert len(figure.axes) == len(NODULE_TYPES) * 6
