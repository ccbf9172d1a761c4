"""Pairing by patient, per-feature CCC, study summaries and the report built from them."""

import io
import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from lung_fm_robustness.agreement.report import (
    agreement_metrics,
    ccc_distribution_figure,
    study_table_markdown,
)
from lung_fm_robustness.agreement.study import (
    ID_COLUMNS,
    PER_FEATURE_COLUMNS,
    SUMMARY_COLUMNS,
    Condition,
    pair_conditions,
    per_feature_ccc,
    summarise_agreement,
    unpaired_patients,
)

REFERENCE = Condition("medium", 1.0)
CONDITIONS = [Condition(k, t) for k in ("smooth", "medium", "sharp") for t in (1.0, 2.0)]
TEST_CONDITIONS = sorted(c for c in CONDITIONS if c != REFERENCE)
PATIENT_NUMBERS = np.arange(1, 8)  # 7 patients: 1/n variance of 1..7 is (49 - 1) / 12 = 4
LABELS = {"fm": "FMCIB (fmcib-1a2b3c4d5e6f)", "radiomics": "resnet50-random-init"}


def shift_of(condition: Condition) -> float:
    """Offset of the "shifted" feature under each condition (0 under the reference)."""
    return 0.0 if condition == REFERENCE else float(TEST_CONDITIONS.index(condition) + 1)


def feature_table(seed: int = 0) -> pd.DataFrame:
    """One row per (patient, condition), features with known CCC against the reference.

    - patient_number: the patient's number under every condition -> CCC 1, and reveals pairing;
    - shifted: patient number + c -> CCC = 2*4 / (4 + 4 + c^2) = 8 / (8 + c^2);
    - constant: 5.0 everywhere -> undefined;
    - noisy: random.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for condition in CONDITIONS:
        for number in PATIENT_NUMBERS:
            rows.append(
                {
                    "scan_id": f"S{number:02d}-{condition.label}",
                    "patient_id": f"P{number:02d}",
                    "kernel": condition.kernel,
                    "slice_thickness_mm": condition.slice_thickness_mm,
                    "patient_number": float(number),
                    "shifted": number + shift_of(condition),
                    "constant": 5.0,
                    "noisy": rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def rows_of(table: pd.DataFrame, condition: Condition, patient: str | None = None) -> pd.Series:
    """Mask of the scans of one condition (and one patient)."""
    mask = (table["kernel"] == condition.kernel) & (
        table["slice_thickness_mm"] == condition.slice_thickness_mm
    )
    return mask & (table["patient_id"] == patient) if patient else mask


def ccc_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


# --- Condition --------------------------------------------------------------------------------


def test_condition_is_a_value_with_a_label():
    assert Condition("medium", 1) == Condition("medium", np.float64(1.0))
    assert hash(Condition("medium", 1)) == hash(Condition("medium", 1.0))
    assert Condition("smooth", 2).label == "smooth_2.0"
    unsorted = [Condition("smooth", 1.0), Condition("medium", 2.0), Condition("medium", 1.0)]
    assert sorted(unsorted) == [
        Condition("medium", 1.0),
        Condition("medium", 2.0),
        Condition("smooth", 1.0),
    ]


# --- pair_conditions --------------------------------------------------------------------------


def test_pairs_every_non_reference_condition_by_patient():
    paired = pair_conditions(feature_table(), REFERENCE)
    assert list(paired) == TEST_CONDITIONS
    for condition, (reference, test, names, patients) in paired.items():
        assert names == ["patient_number", "shifted", "constant", "noisy"]
        assert patients == [f"P{number:02d}" for number in PATIENT_NUMBERS]
        assert reference.shape == test.shape == (7, 4)
        np.testing.assert_array_equal(reference[:, 0], PATIENT_NUMBERS)
        np.testing.assert_array_equal(test[:, 0], PATIENT_NUMBERS)
        np.testing.assert_array_equal(test[:, 1] - reference[:, 1], shift_of(condition))


def test_shuffled_rows_pair_the_same():
    table = feature_table()
    shuffled = table.sample(frac=1.0, random_state=42).reset_index(drop=True)
    assert not shuffled["patient_id"].is_monotonic_increasing
    expected = pair_conditions(table, REFERENCE)
    for condition, (reference, test, names, _) in pair_conditions(shuffled, REFERENCE).items():
        np.testing.assert_array_equal(reference, expected[condition][0])
        np.testing.assert_array_equal(test, expected[condition][1])
        np.testing.assert_array_equal(test[:, 0], reference[:, 0])


def test_id_columns_may_be_index_levels_and_scan_id_optional():
    table = feature_table()
    expected = pair_conditions(table, REFERENCE)
    as_index = table.set_index(["patient_id", "kernel", "slice_thickness_mm"])
    as_index = as_index.drop(columns="scan_id")
    for condition, (reference, test, _, _) in pair_conditions(as_index, REFERENCE).items():
        np.testing.assert_array_equal(reference, expected[condition][0])
        np.testing.assert_array_equal(test, expected[condition][1])


def test_missing_reference_names_condition_table_and_fix():
    table = feature_table()
    without_reference = table[table["kernel"] != "medium"]
    with pytest.raises(ValueError) as error:
        pair_conditions(without_reference, REFERENCE, extractor="fm")
    message = str(error.value)
    assert "'fm' feature table" in message
    assert "medium_1.0" in message
    assert "sharp_1.0, sharp_2.0, smooth_1.0, smooth_2.0" in message
    assert "Fix:" in message


def test_patient_missing_a_condition_is_reported():
    table = feature_table()
    gap = rows_of(table, Condition("sharp", 2.0), "P03")
    with pytest.raises(ValueError) as error:
        pair_conditions(table[~gap], REFERENCE, extractor="radiomics")
    message = str(error.value)
    assert "'radiomics'" in message
    assert "sharp_2.0: no sharp_2.0 scan for 1 patient(s): P03" in message
    assert "allow_missing_patients=True" in message


def test_allow_missing_patients_pairs_the_rest_and_records_who_was_excluded(caplog):
    table = feature_table()
    gap = rows_of(table, Condition("sharp", 2.0), "P03")
    no_reference = rows_of(table, REFERENCE, "P05")
    table = table[~gap & ~no_reference]

    with caplog.at_level(logging.WARNING):
        paired = pair_conditions(table, REFERENCE, extractor="fm", allow_missing_patients=True)
    assert "P03" in caplog.text and "P05" in caplog.text
    # P05 lacks the reference, so it is out everywhere; P03 is also out of sharp_2.0.
    for condition, (reference, test, _, patients) in paired.items():
        expected = [1, 2, 4, 6, 7] if condition == Condition("sharp", 2.0) else [1, 2, 3, 4, 6, 7]
        assert patients == [f"P{number:02d}" for number in expected]
        np.testing.assert_array_equal(reference[:, 0], expected)
        np.testing.assert_array_equal(test[:, 0], expected)

    excluded = unpaired_patients(table, REFERENCE)
    assert list(excluded.columns) == ["kernel", "slice_thickness_mm", "patient_id", "nodule_id", "missing"]
    assert excluded["nodule_id"].isna().all()  # no nodule_id column: the units are patients
    records = set(excluded.drop(columns="nodule_id").itertuples(index=False, name=None))
    assert ("sharp", 2.0, "P03", "condition") in records
    assert {r for r in records if r[2] == "P05"} == {
        (c.kernel, c.slice_thickness_mm, "P05", "reference") for c in TEST_CONDITIONS
    }
    assert len(records) == 6

    per_feature = per_feature_ccc(table, REFERENCE, "fm", allow_missing_patients=True)
    n_patients = per_feature.groupby(["kernel", "slice_thickness_mm"])["n_patients"].unique()
    assert n_patients[("sharp", 2.0)].tolist() == [5]
    assert n_patients[("smooth", 1.0)].tolist() == [6]


def test_duplicate_scans_are_rejected():
    table = feature_table()
    repeat = table[rows_of(table, Condition("smooth", 1.0), "P02")]
    expected = r"1 duplicate \(patient, condition\).*P02 smooth_1.0 \(2 rows\)"
    with pytest.raises(ValueError, match=expected):
        pair_conditions(pd.concat([table, repeat]), REFERENCE, extractor="fm")


def test_table_with_only_the_reference_is_rejected():
    table = feature_table()
    only_reference = table[(table["kernel"] == "medium") & (table["slice_thickness_mm"] == 1.0)]
    with pytest.raises(ValueError, match="nothing to compare"):
        pair_conditions(only_reference, REFERENCE)


def test_malformed_tables_are_rejected():
    table = feature_table()
    with pytest.raises(ValueError, match="lacks the id columns"):
        pair_conditions(table.drop(columns="kernel"), REFERENCE)
    with pytest.raises(ValueError, match="non-numeric feature columns \\['site'\\]"):
        pair_conditions(table.assign(site="A"), REFERENCE)
    with pytest.raises(ValueError, match="no feature columns"):
        pair_conditions(table[[c for c in ID_COLUMNS if c in table.columns]], REFERENCE)


# --- per_feature_ccc --------------------------------------------------------------------------


def test_per_feature_ccc_long_table_with_known_values():
    per_feature = per_feature_ccc(feature_table(), REFERENCE, "fm")
    assert tuple(per_feature.columns) == PER_FEATURE_COLUMNS
    assert len(per_feature) == 5 * 4
    assert (per_feature["extractor"] == "fm").all() and (per_feature["n_patients"] == 7).all()
    by_key = per_feature.set_index(["kernel", "slice_thickness_mm", "feature"])["ccc"]
    for condition in TEST_CONDITIONS:
        key = (condition.kernel, condition.slice_thickness_mm)
        c = shift_of(condition)
        assert by_key[(*key, "patient_number")] == 1.0
        assert by_key[(*key, "shifted")] == pytest.approx(8 / (8 + c * c), rel=1e-15)
        assert np.isnan(by_key[(*key, "constant")])
    # The noisy feature's CCC equals one computed directly from its columns.
    table = feature_table()
    x = table.loc[rows_of(table, REFERENCE), "noisy"].to_numpy()
    y = table.loc[rows_of(table, Condition("sharp", 1.0)), "noisy"].to_numpy()
    assert by_key[("sharp", 1.0, "noisy")] == pytest.approx(ccc_by_hand(x, y), rel=1e-12)


def test_non_finite_value_is_undefined_for_that_condition_and_logged(caplog):
    table = feature_table()
    table.loc[rows_of(table, Condition("smooth", 2.0), "P04"), "noisy"] = np.nan
    with caplog.at_level(logging.WARNING):
        per_feature = per_feature_ccc(table, REFERENCE, "fm")
    noisy = per_feature[per_feature["feature"] == "noisy"]
    noisy = noisy.set_index(["kernel", "slice_thickness_mm"])["ccc"]
    assert np.isnan(noisy[("smooth", 2.0)])
    assert noisy.drop(("smooth", 2.0)).notna().all()
    assert "fm smooth_2.0 vs medium_1.0: 2 of 4 features have undefined CCC" in caplog.text
    assert "1 with NaN/inf values, e.g. ['noisy']" in caplog.text


# --- summarise_agreement ----------------------------------------------------------------------


def per_feature_rows(extractor, kernel, thickness, ccc):
    return pd.DataFrame(
        {
            "extractor": extractor,
            "kernel": kernel,
            "slice_thickness_mm": thickness,
            "feature": [f"f{i}" for i in range(len(ccc))],
            "ccc": ccc,
            "n_patients": 7,
        }
    )


HAND_PER_FEATURE = pd.concat(
    [
        per_feature_rows("radiomics", "smooth", 2.0, [0.5, np.nan]),
        per_feature_rows("fm", "smooth", 2.0, [0.95, 0.9, 0.5, np.nan, np.nan]),
        per_feature_rows("fm", "sharp", 1.0, [np.nan, np.nan, np.nan]),
        per_feature_rows("fm", "medium", 2.0, [0.99, 0.97, 0.89, 1.0]),
    ],
    ignore_index=True,
)


def test_summary_by_hand():
    summary = summarise_agreement(HAND_PER_FEATURE, threshold=0.9)
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert summary[["extractor", "kernel", "slice_thickness_mm"]].values.tolist() == [
        ["fm", "medium", 2.0],
        ["fm", "sharp", 1.0],
        ["fm", "smooth", 2.0],
        ["radiomics", "smooth", 2.0],
    ]
    medium, sharp, smooth, radiomics = (row for _, row in summary.iterrows())
    # 4 defined: mean (0.99 + 0.97 + 0.89 + 1.0) / 4 = 0.9625; median (0.97 + 0.99) / 2 = 0.98;
    # 3 of 4 at or above 0.9 -> 75 %
    assert (medium["n_features"], medium["n_undefined"]) == (4, 0)
    assert medium["mean_ccc"] == pytest.approx(0.9625)
    assert medium["median_ccc"] == pytest.approx(0.98)
    assert medium["pct_strong"] == pytest.approx(75.0)
    # 5 features, 2 undefined: mean (0.95 + 0.9 + 0.5) / 3; median 0.9; 0.9 counts as strong
    assert (smooth["n_features"], smooth["n_undefined"]) == (5, 2)
    assert smooth["mean_ccc"] == pytest.approx(2.35 / 3)
    assert smooth["median_ccc"] == pytest.approx(0.9)
    assert smooth["pct_strong"] == pytest.approx(200 / 3)
    # all undefined: counted, and no summary value invented
    assert (sharp["n_features"], sharp["n_undefined"]) == (3, 3)
    assert np.isnan([sharp["mean_ccc"], sharp["median_ccc"], sharp["pct_strong"]]).all()
    assert radiomics["pct_strong"] == 0.0 and radiomics["n_undefined"] == 1
    assert (summary["threshold"] == 0.9).all()
    assert summary["n_features"].dtype == np.int64 and summary["n_undefined"].dtype == np.int64


def test_summary_matches_direct_computation_with_constant_features():
    rng = np.random.default_rng(12)
    table = feature_table()
    for j in range(30):
        noise = rng.normal(size=len(table))
        table[f"random_{j}"] = table["patient_number"] * rng.uniform(0.5, 1.5) + noise
    for j in range(5):
        table[f"flat_{j}"] = float(j)
    per_feature = per_feature_ccc(table, REFERENCE, "fm")
    summary = summarise_agreement(per_feature, threshold=0.8)
    summary = summary.set_index(["kernel", "slice_thickness_mm"])
    for condition in TEST_CONDITIONS:
        ccc = per_feature[
            (per_feature["kernel"] == condition.kernel)
            & (per_feature["slice_thickness_mm"] == condition.slice_thickness_mm)
        ]["ccc"].to_numpy()
        defined = ccc[~np.isnan(ccc)]
        row = summary.loc[(condition.kernel, condition.slice_thickness_mm)]
        assert row["n_features"] == 4 + 30 + 5
        assert row["n_undefined"] == 1 + 5  # "constant" and the flat features
        assert row["mean_ccc"] == pytest.approx(defined.mean(), rel=1e-12)
        assert row["median_ccc"] == pytest.approx(np.median(defined), rel=1e-12)
        assert row["pct_strong"] == pytest.approx(100 * np.sum(defined >= 0.8) / len(defined))


@pytest.mark.parametrize("threshold", [1.5, -2.0, float("nan")])
def test_summary_rejects_thresholds_outside_the_ccc_range(threshold):
    with pytest.raises(ValueError, match="threshold"):
        summarise_agreement(HAND_PER_FEATURE, threshold)


# --- report -----------------------------------------------------------------------------------


def test_markdown_table_rows_labels_and_numbers():
    summary = summarise_agreement(HAND_PER_FEATURE, threshold=0.9)
    markdown = study_table_markdown(summary, LABELS, REFERENCE, 0.9, n_patients=59)
    assert "(medium kernel, 1.0 mm), n = 59 patients" in markdown
    assert "CCC ≥ 0.9" in markdown
    assert "`fm` = FMCIB (fmcib-1a2b3c4d5e6f)" in markdown
    assert "`radiomics` = resnet50-random-init" in markdown
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| Kernel"))
    assert header == (
        "| Kernel | Slice thickness (mm) "
        "| fm: mean CCC | fm: % CCC ≥ 0.9 | fm: undefined features "
        "| radiomics: mean CCC | radiomics: % CCC ≥ 0.9 | radiomics: undefined features |"
    )
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| Kernel")]
    assert rows == [  # the study's order: smooth, medium, sharp
        "| smooth | 2.0 | 0.783 | 66.7 | 2 of 5 | 0.500 | 0.0 | 1 of 2 |",
        "| medium | 2.0 | 0.963 | 75.0 | 0 of 4 | — | — | — |",
        "| sharp | 1.0 | n/a | n/a | 3 of 3 | — | — | — |",
    ]


def test_markdown_leaves_out_undefined_column_when_all_defined_and_escapes_pipes():
    defined = HAND_PER_FEATURE[HAND_PER_FEATURE["ccc"].notna()]
    summary = summarise_agreement(defined, threshold=0.9)
    labels = {"fm": "FMCIB | v1", "radiomics": "PyRadiomics"}
    markdown = study_table_markdown(summary, labels, REFERENCE, 0.9)
    assert "undefined" not in markdown
    assert "n = " not in markdown
    assert "`fm` = FMCIB \\| v1" in markdown


def test_markdown_requires_labels_and_a_matching_threshold():
    summary = summarise_agreement(HAND_PER_FEATURE, threshold=0.9)
    with pytest.raises(ValueError, match="no label for \\['radiomics'\\]"):
        study_table_markdown(summary, {"fm": "FMCIB"}, REFERENCE, 0.9)
    with pytest.raises(ValueError, match="mislabelled"):
        study_table_markdown(summary, LABELS, REFERENCE, 0.95)


def test_metric_keys_and_values():
    summary = summarise_agreement(HAND_PER_FEATURE, threshold=0.9)
    metrics = agreement_metrics(summary)
    assert set(metrics) == {
        "fm.medium_2.0.mean_ccc",
        "fm.medium_2.0.median_ccc",
        "fm.medium_2.0.pct_strong",
        "fm.medium_2.0.n_undefined",
        "fm.sharp_1.0.n_undefined",  # its mean, median and % strong are NaN: left out
        "fm.smooth_2.0.mean_ccc",
        "fm.smooth_2.0.median_ccc",
        "fm.smooth_2.0.pct_strong",
        "fm.smooth_2.0.n_undefined",
        "radiomics.smooth_2.0.mean_ccc",
        "radiomics.smooth_2.0.median_ccc",
        "radiomics.smooth_2.0.pct_strong",
        "radiomics.smooth_2.0.n_undefined",
    }
    assert metrics["fm.sharp_1.0.n_undefined"] == 3.0
    assert metrics["fm.medium_2.0.pct_strong"] == pytest.approx(75.0)
    assert all(type(value) is float for value in metrics.values())


def test_figure_has_one_panel_per_extractor_and_renders_png():
    per_feature = pd.concat(
        [HAND_PER_FEATURE, per_feature_rows("radiomics", "sharp", 1.0, [-0.6, 0.2, 0.95])],
        ignore_index=True,
    )
    figure = ccc_distribution_figure(per_feature, LABELS, threshold=0.9)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == [
        "FMCIB (fmcib-1a2b3c4d5e6f) (5 features)",
        "resnet50-random-init (3 features)",
    ]
    for ax in figure.axes:
        assert ax.get_ylim() == pytest.approx((-0.23, 1.03))
        assert [t.get_text() for t in ax.get_xticklabels()] == [
            "smooth\n2.0 mm",
            "medium\n2.0 mm",
            "sharp\n1.0 mm",
        ]
    notes = [text.get_text() for text in figure.axes[1].texts]
    assert "1 below -0.2" in notes and "1 undefined" in notes
    png = io.BytesIO()
    figure.savefig(png, format="png")
    assert png.getvalue().startswith(b"\x89PNG")
