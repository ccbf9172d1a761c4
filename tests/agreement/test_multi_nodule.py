"""Several nodules per patient: pairing by (patient, nodule), counts of units and patients, the
patient-level (cluster) bootstrap, and identical results to before for one nodule per patient.

The one-nodule baseline in data/one_nodule_baseline/ was written by the code before nodule
pairing existed (commit 695eed7), from the same synthetic tables built here; it must come out
unchanged whether a table has no nodule_id column (tables written before it existed), a
nodule_id of None (phantom, manifest) or one nodule_id per patient.
"""

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lung_fm_robustness.agreement.bootstrap import (
    bootstrap_summary_intervals,
    patient_resamples,
    percentile_interval,
    resampled_summaries,
)
from lung_fm_robustness.agreement.study import (
    Condition,
    PairedCondition,
    pair_conditions,
    per_feature_ccc,
    unpaired_patients,
)
from lung_fm_robustness.features import ID_COLUMNS, feature_table
from lung_fm_robustness.fm.resampling_comparison import comparison_markdown, resampling_comparison
from lung_fm_robustness.pipelines.agreement import nodes
from tests.agreement.clustered_tables import CONDITIONS, clustered_features

BASELINE = Path(__file__).parent / "data" / "one_nodule_baseline"
REFERENCE = Condition("medium", 1.0)
FM_NAMES = tuple(f"fm_{i:04d}" for i in range(12))
NODULES = [3, 1, 2, 4, 2, 3, 1, 2]  # per patient: 18 nodules of 8 patients
PARAMS = {
    "reference": {"kernel": "medium", "slice_thickness_mm": 1.0},
    "threshold": 0.9,
    "allow_missing_patients": True,
    "metrics": ["ccc", "icc3_1", "icc2_1"],
    "confidence": 0.95,
    "bootstrap": {"n_resamples": 150, "seed": 3},
}
LABELS = ({"label": "net", "resampling": "fmcib"}, {"label": "rad"})


# --- one nodule per patient: the results of before -----------------------------------------


def one_nodule_tables(ids: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The baseline's inputs; ``ids``: "absent" (no nodule_id column), "none" or "set"."""
    tables = []
    for seed, names in ((1, FM_NAMES), (2, None)):
        table = clustered_features([1] * 9, seed=seed, nodule_ids=ids == "set", **({"names": names} if names else {}))
        if ids == "none":
            table.insert(2, "nodule_id", None)
        tables.append(table)
    fm, radiomics = tables
    gaps = [("P03", "sharp", 2.0), ("P07", "medium", 1.0)]
    drop = np.zeros(len(fm), bool)
    for patient, kernel, thickness in gaps:
        drop |= (fm.patient_id == patient) & (fm.kernel == kernel) & (fm.slice_thickness_mm == thickness)
    return fm[~drop].reset_index(drop=True), radiomics


def assert_same_as_baseline(name: str, table: pd.DataFrame) -> None:
    expected = pd.read_parquet(BASELINE / f"{name}.parquet")
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected, check_exact=True)


@pytest.mark.parametrize("ids", ["absent", "none", "set"])
def test_one_nodule_per_patient_gives_exactly_the_results_of_before(ids):
    fm, radiomics = one_nodule_tables(ids)
    per_feature = nodes.compute_feature_agreement(fm, radiomics, PARAMS)
    summary = nodes.summarise(per_feature, PARAMS)
    summary_ci = nodes.bootstrap_summaries(fm, radiomics, per_feature, PARAMS)
    assert_same_as_baseline("per_feature", per_feature)
    assert_same_as_baseline("summary", summary)
    assert list(summary.columns) == list(pd.read_parquet(BASELINE / "summary.parquet").columns)
    assert_same_as_baseline("summary_ci", summary_ci)
    assert_same_as_baseline("by_class", nodes.break_down_by_feature_class(per_feature, PARAMS))
    assert_same_as_baseline("kernel_thickness", nodes.compare_kernel_and_thickness(summary, PARAMS))
    assert_same_as_baseline("unpaired", unpaired_patients(fm, REFERENCE, extractor="fm"))
    as_fm = radiomics.rename(columns=dict(zip([c for c in radiomics.columns if c not in ID_COLUMNS], FM_NAMES)))
    comparison = resampling_comparison({"fmcib": fm, "exact": as_fm}, "net", REFERENCE, 0.9, allow_missing_patients=True)
    assert_same_as_baseline("resampling", comparison)
    table = nodes.render_study_table(summary, per_feature, *LABELS, PARAMS)
    assert table == (BASELINE / "study_table.md").read_text()
    for counts in (per_feature, summary_ci, comparison):
        assert (counts["n_units"] == counts["n_patients"]).all()


# --- pairing by unit -------------------------------------------------------------------------


def ccc_by_hand(x, y):
    return 2 * np.mean((x - x.mean()) * (y - y.mean())) / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def iccs_by_hand(x, y):
    """ICC(3,1) and ICC(2,1) from the two-way ANOVA of the (units x 2) matrix."""
    data = np.column_stack([x, y])
    n, k = data.shape
    grand = data.mean()
    ss_rows = k * np.sum((data.mean(axis=1) - grand) ** 2)
    ss_columns = n * np.sum((data.mean(axis=0) - grand) ** 2)
    ss_error = np.sum((data - grand) ** 2) - ss_rows - ss_columns
    ms_rows, ms_columns, ms_error = ss_rows / (n - 1), ss_columns / (k - 1), ss_error / ((n - 1) * (k - 1))
    icc3 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)
    icc2 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error + k * (ms_columns - ms_error) / n)
    return icc3, icc2


def merged(table: pd.DataFrame, condition: tuple[str, float]) -> pd.DataFrame:
    """Reference and test rows of one condition joined on (patient_id, nodule_id)."""
    def rows(kernel, thickness):
        chosen = table[(table.kernel == kernel) & (table.slice_thickness_mm == thickness)]
        return chosen.drop(columns=["scan_id", "kernel", "slice_thickness_mm"])

    return rows("medium", 1.0).merge(rows(*condition), on=["patient_id", "nodule_id"], suffixes=("_x", "_y"))


def test_nodules_are_paired_by_patient_and_nodule_whatever_the_row_order():
    table = clustered_features(NODULES, seed=5)
    shuffled = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    per_feature = per_feature_ccc(shuffled, REFERENCE, "radiomics", coefficients=("ccc", "icc3_1", "icc2_1"))
    assert (per_feature["n_units"] == 18).all() and (per_feature["n_patients"] == 8).all()
    rows = per_feature.set_index(["kernel", "slice_thickness_mm", "feature"])
    for condition in CONDITIONS:
        if condition == ("medium", 1.0):
            continue
        pairs = merged(table, condition)
        assert len(pairs) == 18
        for feature in table.columns[6:]:  # the first feature is constant: undefined
            x, y = pairs[f"{feature}_x"].to_numpy(), pairs[f"{feature}_y"].to_numpy()
            row = rows.loc[(*condition, feature)]
            r = np.corrcoef(x, y)[0, 1]
            assert row["ccc"] == pytest.approx(ccc_by_hand(x, y), rel=1e-12)
            assert row["pearson_r"] == pytest.approx(r, rel=1e-12)
            assert row["bias_correction"] == pytest.approx(ccc_by_hand(x, y) / r, rel=1e-12)
            assert (row["icc3_1"], row["icc2_1"]) == pytest.approx(iccs_by_hand(x, y), rel=1e-10)
        assert np.isnan(rows.loc[(*condition, table.columns[5]), "ccc"])
    pair = pair_conditions(shuffled, REFERENCE)[Condition("sharp", 2.0)]
    expected = sorted((p, str(n)) for i, k in enumerate(NODULES) for p, n in [(f"P{i + 1:02d}", j + 1) for j in range(k)])
    assert pair.patients == [p for p, _ in expected] and (pair.n_units, pair.n_patients) == (18, 8)


def test_a_nodule_listed_twice_under_one_condition_is_named():
    table = clustered_features(NODULES, seed=5)
    repeat = table[(table.patient_id == "P04") & (table.nodule_id == "3") & (table.kernel == "smooth") & (table.slice_thickness_mm == 2.0)]
    with pytest.raises(ValueError, match=r"1 duplicate \(patient, nodule, condition\) scans: P04 nodule 3 smooth_2.0 \(2 rows\)"):
        pair_conditions(pd.concat([table, repeat]), REFERENCE, extractor="radiomics")


def test_several_nodules_without_a_nodule_id_column_say_how_to_fix_it():
    table = clustered_features(NODULES, seed=5).drop(columns="nodule_id")
    with pytest.raises(ValueError) as error:
        pair_conditions(table, REFERENCE, extractor="fm")
    message = str(error.value)
    assert "duplicate (patient, condition) scans: P01 medium_1.0 (3 rows)" in message
    assert "every row needs its nodule_id" in message and "fm_features and radiomics_features" in message


def test_missing_nodules_are_dropped_for_that_condition_only_and_counted(caplog):
    table = clustered_features(NODULES, seed=5)
    gone = (
        ((table.patient_id == "P01") & (table.nodule_id == "2") & (table.kernel == "sharp") & (table.slice_thickness_mm == 2.0))
        | ((table.patient_id == "P02") & (table.kernel == "smooth") & (table.slice_thickness_mm == 1.0))  # P02's only nodule
    )  # fmt: skip
    table = table[~gone]
    with pytest.raises(ValueError) as error:
        pair_conditions(table, REFERENCE, extractor="radiomics")
    assert "sharp_2.0: no sharp_2.0 scan for 1 nodule(s): P01 nodule 2" in str(error.value)
    assert "smooth_1.0: no smooth_1.0 scan for 1 nodule(s): P02 nodule 1" in str(error.value)
    with caplog.at_level(logging.WARNING):
        per_feature = per_feature_ccc(table, REFERENCE, "radiomics", allow_missing_patients=True)
    assert "P01 nodule 2" in caplog.text
    counts = per_feature.groupby(["kernel", "slice_thickness_mm"])[["n_units", "n_patients"]].first()
    assert counts.loc[("sharp", 2.0)].tolist() == [17, 8]
    assert counts.loc[("smooth", 1.0)].tolist() == [17, 7]
    assert counts.loc[("medium", 2.0)].tolist() == [18, 8]
    sharp = merged(table, ("sharp", 2.0))
    feature = table.columns[7]
    row = per_feature[(per_feature.kernel == "sharp") & (per_feature.slice_thickness_mm == 2.0) & (per_feature.feature == feature)]
    assert row["ccc"].item() == pytest.approx(ccc_by_hand(sharp[f"{feature}_x"].to_numpy(), sharp[f"{feature}_y"].to_numpy()), rel=1e-12)
    excluded = unpaired_patients(table, REFERENCE, extractor="radiomics")
    assert set(excluded.itertuples(index=False, name=None)) == {
        ("sharp", 2.0, "P01", "2", "condition"),
        ("smooth", 1.0, "P02", "1", "condition"),
    }
    pairings = {"radiomics": pair_conditions(table, REFERENCE, allow_missing_patients=True)}
    ci = bootstrap_summary_intervals(pairings, per_feature, ["ccc"], 0.9, confidence=0.95, n_resamples=50, seed=0)
    by_condition = ci.set_index(["kernel", "slice_thickness_mm"])
    assert by_condition.loc[("smooth", 1.0), ["n_units", "n_patients"]].tolist() == [17, 7]
    assert by_condition.loc[("sharp", 2.0), ["n_units", "n_patients"]].tolist() == [17, 8]


# --- the patient-level (cluster) bootstrap -----------------------------------------------------


def plain_loop_bootstrap(table, condition, features, n_resamples, seed, threshold=0.9, confidence=0.95):
    """Percentile intervals of mean, median and % >= threshold of the CCC, each resample built
    as a data set: every drawn patient brings all of its nodules, as often as it is drawn."""
    pairs = merged(table, condition)
    patients = sorted(set(table["patient_id"]))
    draws = np.random.default_rng(seed).multinomial(len(patients), [1 / len(patients)] * len(patients), size=n_resamples)
    stats = {"mean": [], "median": [], "pct_strong": []}
    for counts in draws:
        parts = [pairs[pairs.patient_id == p] for p, k in zip(patients, counts) for _ in range(k)]
        sample = pd.concat(parts)
        ccc = np.array([ccc_by_hand(sample[f"{f}_x"].to_numpy(), sample[f"{f}_y"].to_numpy()) for f in features])
        stats["mean"].append(ccc.mean())
        stats["median"].append(np.median(ccc))
        stats["pct_strong"].append(100 * np.mean(ccc >= threshold))
    return {name: np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2]) for name, values in stats.items()}


def test_cluster_bootstrap_equals_a_plain_loop_over_drawn_patients():
    table = clustered_features(NODULES, seed=8, within_patient=0.8, noise=0.25)
    per_feature = per_feature_ccc(table, REFERENCE, "radiomics")
    pairings = {"radiomics": pair_conditions(table, REFERENCE)}
    ci = bootstrap_summary_intervals(pairings, per_feature, ["ccc"], 0.9, confidence=0.95, n_resamples=120, seed=4)
    defined = list(table.columns[6:])  # the constant first feature is left out of every summary
    expected = {}
    for condition in (("sharp", 2.0), ("smooth", 1.0)):
        expected[condition] = plain_loop_bootstrap(table, condition, defined, 120, 4)
        row = ci.set_index(["kernel", "slice_thickness_mm"]).loc[condition]
        assert (row["n_units"], row["n_patients"]) == (18, 8)
        for stat, (low, high) in expected[condition].items():
            assert row[f"{stat}_ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-12)
            assert row[f"{stat}_ci_high"] == pytest.approx(high, rel=1e-9, abs=1e-12)
    # the loop tells the two schemes apart: drawing nodules as if independent gives other intervals
    as_patients = table.assign(patient_id=table.patient_id + "-" + table.nodule_id)
    naive = plain_loop_bootstrap(as_patients, ("sharp", 2.0), defined, 120, 4)
    assert not np.allclose(naive["mean"], expected[("sharp", 2.0)]["mean"], rtol=1e-3)


def simulated_pair(rng, n_patients, nodules, within, rho, sd_y, shift):
    """Reference and test values of nodules whose truth is shared within a patient; the test is
    a bivariate-normal partner of the reference with population CCC
    2 rho sd_y / (1 + sd_y^2 + shift^2) per feature (its own part is shared within a patient
    too, independently of the reference)."""
    n_features = len(rho)
    def shared_within_patients():  # unit variance, correlation ``within`` between nodules of a patient
        patient = np.repeat(rng.normal(size=(n_patients, n_features)), nodules, axis=0)
        return np.sqrt(within) * patient + np.sqrt(1 - within) * rng.normal(size=patient.shape)

    x = shared_within_patients()
    y = shift + sd_y * (rho * x + np.sqrt(1 - rho**2) * shared_within_patients())
    return x, y


def test_cluster_resampling_widens_intervals_and_keeps_coverage_when_nodules_are_alike():
    # 30 patients x 4 nodules whose values are 90 % shared within a patient: about 30
    # independent observations, not 120. Resampling patients covers the population mean CCC
    # close to the nominal 95 % (measured 0.88: percentile intervals of a CCC run a little
    # short at this size, as in test_bootstrap); resampling nodules as if independent gives
    # intervals about half as wide that miss it far more often (measured coverage 0.58).
    rng = np.random.default_rng(21)
    rho, sd_y, shift = np.array([0.6, 0.7, 0.5, 0.8]), np.array([1.0, 1.2, 0.9, 1.1]), np.array([0.1, 0.3, 0.0, 0.2])
    population = np.mean(2 * rho * sd_y / (1 + sd_y**2 + shift**2))
    n_patients, nodules, replications = 30, 4, 300
    patients = [f"P{i:02d}" for i in range(n_patients)]
    rows_patients = [p for p in patients for _ in range(nodules)]
    nodule_units = [f"{p}-{j}" for p in patients for j in range(nodules)]
    cluster_counts = patient_resamples(rows_patients, 200, seed=0)[rows_patients].to_numpy()
    naive_counts = patient_resamples(nodule_units, 200, seed=0).to_numpy()
    covered = {"cluster": 0, "naive": 0}
    widths = {"cluster": [], "naive": []}
    for _ in range(replications):
        x, y = simulated_pair(rng, n_patients, nodules, 0.9, rho, sd_y, shift)
        pair = PairedCondition(x, y, ["a", "b", "c", "d"], rows_patients)
        for name, counts in (("cluster", cluster_counts), ("naive", naive_counts)):
            means = resampled_summaries(counts, pair, {"ccc": np.ones(4, bool)}, 0.9)["ccc"]["mean"]
            low, high = percentile_interval(means, 0.95)
            covered[name] += low <= population <= high
            widths[name].append(high - low)
    coverage = {name: hits / replications for name, hits in covered.items()}
    ratio = np.mean(widths["cluster"]) / np.mean(widths["naive"])
    assert ratio > 1.5, ratio
    assert coverage["cluster"] >= 0.82, coverage
    assert coverage["naive"] <= coverage["cluster"] - 0.15, coverage


# --- feature tables, the study table and the report ---------------------------------------------


def test_feature_tables_carry_nodule_id_through_parquet(tmp_path):
    frame = pd.DataFrame(
        {"scan_id": ["a", "b"], "patient_id": ["P1", "P1"], "kernel": ["medium", "sharp"], "slice_thickness_mm": [1.0, 1.0]}
    )
    for nodule_id, expected in (([None, None], [None, None]), (["n1", 2], ["n1", "2"]), ("absent", [None, None])):
        scans = frame if nodule_id == "absent" else frame.assign(nodule_id=nodule_id)
        table = feature_table(SimpleNamespace(frame=scans.set_index("scan_id", drop=False)), np.eye(2), ["f1", "f2"])
        assert list(table.columns) == [*ID_COLUMNS, "f1", "f2"]
        table.to_parquet(tmp_path / "features.parquet")
        back = pd.read_parquet(tmp_path / "features.parquet")
        assert [None if pd.isna(v) else v for v in back["nodule_id"]] == expected
        assert back[["f1", "f2"]].dtypes.eq(np.float64).all()
    with pytest.raises(ValueError, match=r"lacks the id columns \['kernel'\]"):
        feature_table(SimpleNamespace(frame=frame.drop(columns="kernel")), np.eye(2), ["f1", "f2"])


def test_study_table_report_and_comparison_name_nodules_and_patients():
    fm = clustered_features(NODULES, seed=1, names=FM_NAMES)
    radiomics = clustered_features(NODULES, seed=2)
    params = {**PARAMS, "allow_missing_patients": False}
    per_feature = nodes.compute_feature_agreement(fm, radiomics, params)
    summary = nodes.summarise(per_feature, params)
    assert list(summary.columns) == list(pd.read_parquet(BASELINE / "summary.parquet").columns)
    summary_ci = nodes.bootstrap_summaries(fm, radiomics, per_feature, params)
    assert "n = 18 nodules of 8 patients" in nodes.render_study_table(summary, per_feature, *LABELS, params)
    scans = radiomics[list(ID_COLUMNS)].assign(source="dicom")
    report = nodes.build_report(
        per_feature, summary_ci, nodes.break_down_by_feature_class(per_feature, params),
        nodes.compare_kernel_and_thickness(summary, params), radiomics, *LABELS,
        SimpleNamespace(frame=scans), params,
    )  # fmt: skip
    assert "over 18 nodules of 8 patients (dicom data)" in report
    assert "<th>Patients</th><th>Nodules</th>" in report and "<td>8</td><td>18</td>" in report
    assert "cluster bootstrap" in report and "per nodule" in report
    comparison = resampling_comparison({"fmcib": fm, "exact": fm}, "net", REFERENCE, 0.9)
    assert (comparison["n_units"] == 18).all() and (comparison["n_patients"] == 8).all()
    assert "n = 18 nodules of 8 patients" in comparison_markdown(comparison, REFERENCE)
