"""Bootstrap over patients: resampled moments against resampling the data, summaries, intervals,
their coverage on simulated data with a known CCC, and how undefined features are handled."""

import numpy as np
import pandas as pd
import pytest

from lung_fm_robustness.agreement.bootstrap import (
    SUMMARY_CI_COLUMNS,
    bootstrap_summary_intervals,
    patient_resamples,
    percentile_interval,
    resampled_summaries,
)
from lung_fm_robustness.agreement.ccc import ccc_from_moments, lin_ccc
from lung_fm_robustness.agreement.icc import icc2_1, icc2_1_from_moments, icc3_1, icc3_1_from_moments
from lung_fm_robustness.agreement.moments import resampled_moments
from lung_fm_robustness.agreement.study import (
    Condition,
    PairedCondition,
    pair_conditions,
    per_feature_ccc,
    summarise_agreement,
)

REFERENCE = Condition("medium", 1.0)
TEST = Condition("sharp", 2.0)


def awkward_features(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns that stress the one-pass moments: large offsets, tiny spreads, a feature that is
    non-zero for one patient only (constant in every resample that misses that patient), a
    constant, a feature constant under the test condition only, and a non-finite value."""
    x = rng.normal(size=(n, 9)) * [1, 1e-3, 1e4, 1, 1, 1, 1, 1, 1] + [0, 1e6, -3e8, 0, 0, 0, 0, 0, 0]
    y = 0.9 * x + rng.normal(size=(n, 9)) * [0.3, 1e-4, 2e3, 0.3, 1, 1, 1, 1, 1] + 0.2
    x[:, 3] = 0.0
    x[4, 3] = 2.5
    y[:, 3] = 1.7 * x[:, 3]
    x[:, 4], y[:, 4] = 3.0, 3.0
    y[:, 5] = 7.0
    x[2, 6] = np.nan
    y[1, 7] = np.inf
    return x, y


def naive(counts: np.ndarray, x: np.ndarray, y: np.ndarray, coefficient) -> np.ndarray:
    """Each resample built as a data set of repeated rows, then scored."""
    return np.array([coefficient(np.repeat(x, c, axis=0), np.repeat(y, c, axis=0)) for c in counts])


@pytest.mark.parametrize(
    "from_moments, on_data",
    [(ccc_from_moments, lin_ccc), (icc3_1_from_moments, icc3_1), (icc2_1_from_moments, icc2_1)],
)
def test_resampled_moments_give_what_resampling_the_data_gives(from_moments, on_data):
    rng = np.random.default_rng(5)
    n = 15
    x, y = awkward_features(rng, n)
    counts = patient_resamples([f"P{i:02d}" for i in range(n)], 300, seed=1).to_numpy()
    ours = from_moments(resampled_moments(counts, x, y))
    expected = naive(counts, x, y, on_data)
    # A feature with a non-finite value is undefined in every resample, even one that happens
    # to miss that patient: it has no value in the full sample.
    expected[:, [6, 7]] = np.nan
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    # the one-patient feature is undefined exactly where that patient is not drawn
    np.testing.assert_array_equal(np.isnan(ours[:, 3]), counts[:, 4] == 0)
    assert np.isnan(ours[:, [4, 6, 7]]).all()


def test_patient_resamples_are_seeded_counts_in_patient_order():
    patients = ["P3", "P1", "P2", "P1"]
    counts = patient_resamples(patients, 50, seed=7)
    assert list(counts.columns) == ["P1", "P2", "P3"]
    assert counts.shape == (50, 3) and (counts.sum(axis=1) == 3).all()
    pd.testing.assert_frame_equal(counts, patient_resamples(["P2", "P1", "P3"], 50, seed=7))
    assert not counts.equals(patient_resamples(patients, 50, seed=8))


def test_resampled_summaries_equal_summaries_of_the_resampled_data():
    rng = np.random.default_rng(9)
    n = 12
    x, y = awkward_features(rng, n)
    pair = PairedCondition(x, y, [f"f{j}" for j in range(9)], [f"P{i:02d}" for i in range(n)])
    counts = patient_resamples(pair.patients, 200, seed=3).to_numpy()
    full = lin_ccc(x, y)
    defined = {"ccc": ~np.isnan(full), "icc3_1": ~np.isnan(icc3_1(x, y))}
    result = resampled_summaries(counts, pair, defined, threshold=0.8)
    for name, coefficient in (("ccc", lin_ccc), ("icc3_1", icc3_1)):
        values = naive(counts, x, y, coefficient)
        values[:, ~defined[name]] = np.nan
        n_defined = (~np.isnan(values)).sum(axis=1)
        np.testing.assert_allclose(result[name]["mean"], np.nanmean(values, axis=1), rtol=1e-9)
        np.testing.assert_allclose(result[name]["median"], np.nanmedian(values, axis=1), rtol=1e-9)
        np.testing.assert_allclose(
            result[name]["pct_strong"], 100 * (values >= 0.8).sum(axis=1) / n_defined, rtol=1e-12
        )
        np.testing.assert_array_equal(result[name]["n_undefined"], 9 - n_defined)


def test_percentile_interval():
    values = np.arange(1001.0)
    assert percentile_interval(values, 0.95) == pytest.approx((25.0, 975.0))
    assert percentile_interval(np.array([np.nan, 1.0, 3.0]), 0.5) == pytest.approx((1.5, 2.5))
    low, high = percentile_interval(np.array([np.nan, np.nan]), 0.95)
    assert np.isnan(low) and np.isnan(high)


# --- the whole table --------------------------------------------------------------------------


def study_tables(n: int = 20, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Two extractors' feature tables under the reference and two test conditions."""
    rng = np.random.default_rng(seed)
    conditions = [REFERENCE, TEST, Condition("smooth", 1.0)]
    tables = {}
    for extractor, names in (
        ("fm", [f"fm_{i:04d}" for i in range(30)]),
        ("radiomics", ["original_firstorder_Mean", "original_glcm_Contrast", "original_ngtdm_Busyness"]),
    ):
        truth = rng.normal(size=(n, len(names))) * rng.uniform(0.5, 5, len(names))
        truth[:, 0] = 1.0  # one constant feature
        rows = []
        for condition in conditions:
            noise = 0.0 if condition == REFERENCE else 0.4
            values = truth + rng.normal(0, noise, truth.shape) * truth.std(axis=0)
            ids = pd.DataFrame(
                {"patient_id": [f"P{i:02d}" for i in range(n)], "kernel": condition.kernel,
                 "slice_thickness_mm": condition.slice_thickness_mm}
            )  # fmt: skip
            rows.append(pd.concat([ids, pd.DataFrame(values, columns=names)], axis=1))
        tables[extractor] = pd.concat(rows, ignore_index=True)
    return tables


def run_bootstrap(tables, metrics=("ccc",), seed=0, n_resamples=200, allow_missing=False):
    pairings = {
        e: pair_conditions(t, REFERENCE, extractor=e, allow_missing_patients=allow_missing) for e, t in tables.items()
    }
    per_feature = pd.concat(
        [
            per_feature_ccc(t, REFERENCE, e, coefficients=metrics, allow_missing_patients=allow_missing)
            for e, t in tables.items()
        ],
        ignore_index=True,
    )
    table = bootstrap_summary_intervals(
        pairings, per_feature, metrics, 0.9, confidence=0.95, n_resamples=n_resamples, seed=seed
    )
    return per_feature, table


def test_estimates_are_the_summary_tables_and_intervals_bracket_them():
    per_feature, table = run_bootstrap(study_tables(), metrics=("ccc", "icc3_1", "icc2_1"))
    assert tuple(table.columns) == SUMMARY_CI_COLUMNS
    assert len(table) == 2 * 2 * 3
    assert table["metric"].tolist()[:3] == ["ccc", "icc3_1", "icc2_1"]
    ccc_rows = table[table["metric"] == "ccc"].reset_index(drop=True)
    summary = summarise_agreement(per_feature, 0.9)
    for ours, theirs in (("mean", "mean_ccc"), ("median", "median_ccc"), ("pct_strong", "pct_strong"),
                         ("n_features", "n_features"), ("n_undefined", "n_undefined")):  # fmt: skip
        np.testing.assert_array_equal(ccc_rows[ours].to_numpy(), summary[theirs].to_numpy())
    icc_row = table[(table.metric == "icc2_1") & (table.extractor == "fm") & (table.kernel == "smooth")]
    fm_smooth = per_feature[(per_feature.extractor == "fm") & (per_feature.kernel == "smooth")]["icc2_1"]
    assert icc_row["mean"].item() == pytest.approx(fm_smooth.mean(), rel=1e-12)
    for stat in ("mean", "median"):
        assert (table[f"{stat}_ci_low"] <= table[f"{stat}_ci_high"]).all()
        assert table[f"{stat}_ci_low"].between(-1, 1).all()
    assert (table["n_undefined"] == [1] * 12).all()  # the constant feature of each extractor
    assert (table["undefined_per_resample_mean"] >= 1).all()
    assert (table[["n_patients", "n_resamples", "seed", "confidence", "threshold"]].drop_duplicates().values
            == [[20, 200, 0, 0.95, 0.9]]).all()  # fmt: skip


def test_same_seed_same_intervals_other_seed_other_intervals():
    tables = study_tables()
    _, first = run_bootstrap(tables, seed=4)
    _, again = run_bootstrap(tables, seed=4)
    _, other = run_bootstrap(tables, seed=5)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["mean_ci_low"], other["mean_ci_low"])
    np.testing.assert_array_equal(first["mean"], other["mean"])


def test_one_draw_of_patients_serves_every_extractor():
    tables = study_tables()
    tables["radiomics"] = tables["fm"].rename(columns={f"fm_{i:04d}": f"original_glcm_F{i}" for i in range(30)})
    _, table = run_bootstrap(tables)
    fm = table[table["extractor"] == "fm"].drop(columns="extractor").reset_index(drop=True)
    radiomics = table[table["extractor"] == "radiomics"].drop(columns="extractor").reset_index(drop=True)
    pd.testing.assert_frame_equal(fm, radiomics)


def test_patients_missing_a_condition_are_left_out_of_that_condition_only():
    tables = study_tables()
    fm = tables["fm"]
    tables["fm"] = fm[~((fm.patient_id == "P03") & (fm.kernel == "sharp"))]
    _, table = run_bootstrap(tables, allow_missing=True)
    patients = table.set_index(["extractor", "kernel"])["n_patients"]
    assert patients[("fm", "sharp")] == 19 and patients[("fm", "smooth")] == 20
    assert patients[("radiomics", "sharp")] == 20
    assert table["mean_ci_low"].notna().all()


def test_a_feature_undefined_in_some_resamples_is_left_out_of_those_and_counted():
    # Feature "rare" is non-zero for one patient only: undefined in every resample missing that
    # patient, about (1 - 1/n)^n = 36 % of them. It must then be left out of the mean, never 0.
    rng = np.random.default_rng(1)
    n = 25
    x = rng.normal(size=(n, 3))
    y = x + rng.normal(0, 0.1, size=(n, 3))
    x[:, 2], y[:, 2] = 0.0, 0.0
    x[0, 2], y[0, 2] = 1.0, -1.0  # CCC of this feature: strongly negative
    pair = PairedCondition(x, y, ["a", "b", "rare"], [f"P{i:02d}" for i in range(n)])
    counts = patient_resamples(pair.patients, 400, seed=0).to_numpy()
    result = resampled_summaries(counts, pair, {"ccc": np.ones(3, bool)}, threshold=0.9)["ccc"]
    missing = counts[:, 0] == 0
    assert 0.25 < missing.mean() < 0.47
    np.testing.assert_array_equal(result["n_undefined"], missing.astype(int))
    without = naive(counts[missing], x[:, :2], y[:, :2], lin_ccc).mean(axis=1)
    np.testing.assert_allclose(result["mean"][missing], without, rtol=1e-12)


def test_bootstrap_interval_of_the_mean_ccc_covers_the_population_value():
    # Four features, each a bivariate normal pair with a known population CCC
    # 2 rho s_x s_y / (s_x^2 + s_y^2 + (mu_x - mu_y)^2); the mean CCC's interval should cover
    # their mean about 95 % of the time (percentile intervals run slightly short at n = 59).
    rng = np.random.default_rng(11)
    rho, sd_y, shift = np.array([0.95, 0.9, 0.8, 0.97]), np.array([1.0, 1.1, 0.9, 1.05]), np.array([0.1, 0.2, 0.0, 0.15])
    population = np.mean(2 * rho * sd_y / (1 + sd_y**2 + shift**2))
    n, replications, resamples = 59, 300, 200
    patients = [f"P{i:02d}" for i in range(n)]
    counts = patient_resamples(patients, resamples, seed=0).to_numpy()
    covered = 0
    for _ in range(replications):
        x = rng.normal(size=(n, 4))
        y = shift + sd_y * (rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, 4)))
        pair = PairedCondition(x, y, ["a", "b", "c", "d"], patients)
        means = resampled_summaries(counts, pair, {"ccc": np.ones(4, bool)}, 0.9)["ccc"]["mean"]
        low, high = percentile_interval(means, 0.95)
        covered += low <= population <= high
    assert 0.88 <= covered / replications <= 0.99
