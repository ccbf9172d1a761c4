"""The resampling sensitivity study: both modes' agreement side by side, honest when off."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lung_fm_robustness.agreement.study import Condition
from lung_fm_robustness.features import ID_COLUMNS
from lung_fm_robustness.fm.resampling_comparison import (
    COMPARISON_COLUMNS,
    NOT_COMPARED,
    compare_resampling_enabled,
    comparison_markdown,
    resampling_comparison,
)
from lung_fm_robustness.pipelines.fm_features.nodes import (
    compare_fm_resampling,
    extract_fm_features_other_resampling,
)

PATIENTS = [f"P{i}" for i in range(6)]
CONDITIONS = [("smooth", 1.0), ("medium", 1.0), ("sharp", 2.0)]  # table order, reference 2nd
REFERENCE = Condition("medium", 1.0)
AGREEMENT = {  # as conf/base/parameters_agreement.yml
    "reference": {"kernel": "medium", "slice_thickness_mm": 1.0},
    "threshold": 0.9,
    "allow_missing_patients": False,
    "metrics": ["ccc"],
    "confidence": 0.95,
    "bootstrap": {"n_resamples": 1000, "seed": 0},
}


def _table(noise: dict[tuple[str, float], float], seed: int) -> pd.DataFrame:
    """Three features per scan; a condition's features are the reference's plus noise of
    the given SD, so its CCCs are known from an independent formula."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, (len(PATIENTS), 3))
    rows = []
    for kernel, thickness in CONDITIONS:
        values = base + rng.normal(0.0, noise.get((kernel, thickness), 0.0), base.shape)
        for patient, v in zip(PATIENTS, values):
            rows.append([f"{patient}_{kernel}_{thickness}", patient, kernel, thickness, *v])
    columns = ["scan_id", "patient_id", "kernel", "slice_thickness_mm", "fm_0000", "fm_0001", "fm_0002"]
    return pd.DataFrame(rows, columns=columns)


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def _expected(table: pd.DataFrame, kernel: str, thickness: float) -> list[float]:
    ref = table[(table.kernel == "medium") & (table.slice_thickness_mm == 1.0)].set_index("patient_id")
    test = table[(table.kernel == kernel) & (table.slice_thickness_mm == thickness)].set_index("patient_id")
    return [_ccc(ref[f].to_numpy(), test.loc[ref.index, f].to_numpy()) for f in ("fm_0000", "fm_0001", "fm_0002")]


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return {
        "fmcib": _table({("smooth", 1.0): 0.1, ("sharp", 2.0): 0.6}, seed=1),
        "exact": _table({("smooth", 1.0): 0.05, ("sharp", 2.0): 0.3}, seed=2),
    }


def test_comparison_has_both_modes_with_the_study_numbers(tables):
    comparison = resampling_comparison(tables, "resnet50-random-init", REFERENCE, 0.9)
    assert list(comparison.columns) == list(COMPARISON_COLUMNS)
    assert list(comparison["resampling"]) == ["fmcib", "fmcib", "exact", "exact"]
    assert list(zip(comparison.kernel, comparison.slice_thickness_mm)) == [("smooth", 1.0), ("sharp", 2.0)] * 2
    assert (comparison["label"] == "resnet50-random-init").all() and (comparison["n_patients"] == 6).all()
    for row in comparison.itertuples(index=False):
        ccc = np.array(_expected(tables[row.resampling], row.kernel, row.slice_thickness_mm))
        assert row.mean_ccc == pytest.approx(ccc.mean(), abs=1e-12)
        assert row.median_ccc == pytest.approx(np.median(ccc), abs=1e-12)
        assert row.pct_strong == pytest.approx(100 * np.mean(ccc >= 0.9), abs=1e-12)
        assert row.n_features == 3 and row.n_undefined == 0 and row.threshold == 0.9
    # the noisier mode agrees less: the table is not the same numbers twice
    sharp = comparison[comparison.kernel == "sharp"].set_index("resampling")["mean_ccc"]
    assert sharp["fmcib"] < sharp["exact"]


def test_markdown_sets_the_modes_side_by_side(tables):
    comparison = resampling_comparison(tables, "fmcib-0123456789ab", REFERENCE, 0.9)
    text = comparison_markdown(comparison, REFERENCE)
    header = next(line for line in text.splitlines() if line.startswith("| Kernel"))
    assert header.index("fmcib: mean CCC") < header.index("exact: mean CCC")
    assert "fmcib: % CCC ≥ 0.9" in header and "exact: undefined" in header
    assert "`fmcib` = fmcib-0123456789ab (resampling: fmcib)" in text
    assert "`exact` = fmcib-0123456789ab (resampling: exact)" in text
    assert "medium kernel, 1.0 mm" in text and "n = 6 patients" in text
    row = comparison.set_index(["resampling", "kernel"]).loc[("exact", "sharp")]
    assert f"| sharp | 2.0 | " in text and f"{row['mean_ccc']:.3f}" in text


def test_node_puts_the_run_s_mode_first_and_uses_the_agreement_parameters(tables):
    fm = {"resampling": "exact", "compare_resampling": True}
    extractor = {"label": "resnet50-random-init", "resampling": "exact"}
    agreement = {**AGREEMENT, "threshold": 0.5, "reference": {"kernel": "smooth", "slice_thickness_mm": 1.0}}
    comparison, text = compare_fm_resampling(tables["exact"], tables["fmcib"], extractor, fm, agreement)
    assert list(dict.fromkeys(comparison["resampling"])) == ["exact", "fmcib"]
    assert (comparison["threshold"] == 0.5).all() and "smooth kernel, 1.0 mm" in text
    assert set(zip(comparison.kernel, comparison.slice_thickness_mm)) == {("medium", 1.0), ("sharp", 2.0)}


def test_switched_off_the_outputs_say_so_and_nothing_is_computed(tables):
    fm = {"resampling": "fmcib", "compare_resampling": False}
    features = extract_fm_features_other_resampling(None, {}, fm, {})  # no scans, network or compute settings needed
    assert features.empty and list(features.columns) == list(ID_COLUMNS)
    comparison, text = compare_fm_resampling(tables["fmcib"], features, {"label": "x", "resampling": "fmcib"}, fm, AGREEMENT)
    assert comparison.empty and list(comparison.columns) == list(COMPARISON_COLUMNS)
    assert text == NOT_COMPARED and "fm.compare_resampling` is false" in text


def test_the_switch_must_be_a_boolean():
    assert compare_resampling_enabled({}) is False
    with pytest.raises(ValueError, match=r"fm\.compare_resampling must be true or false, got 'yes'"):
        compare_resampling_enabled({"compare_resampling": "yes"})
