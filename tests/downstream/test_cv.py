"""Cross-validation on the reference, the same fold models on every condition: recovers a
known signal, stays at chance without one, reuses folds, and never leaks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lung_fm_robustness.agreement.study import Condition
from lung_fm_robustness.downstream.cv import (
    ModelSettings,
    cross_validated_predictions,
    patient_folds,
)
from lung_fm_robustness.downstream.evaluation import condition_results

from .synthetic import CONDITIONS, feature_frame

REFERENCE = Condition("medium", 1.0)
SETTINGS = ModelSettings(n_folds=5, seed=0, c=0.1, pca_components=10, max_iter=1000)


def _labels(values, n):
    return pd.Series(np.asarray(values, dtype=int), index=[f"P{i:03d}" for i in range(n)])


@pytest.mark.parametrize(
    "settings, correlated",
    [
        # L2 alone: the label is a function of one of 12 independent features.
        (ModelSettings(n_folds=5, seed=0, c=0.1, pca_components=None, max_iter=1000), False),
        # PCA first: unsupervised, so it keeps the signal when the feature belongs to a block of
        # correlated features (as FM channels and radiomics features do), not when it is isolated.
        (SETTINGS, True),
    ],
)
def test_label_that_is_a_function_of_a_feature_gives_a_high_auc_under_every_condition(settings, correlated):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 40 if correlated else 12))
    if correlated:
        base[:, :8] = base[:, [3]] + 0.3 * base[:, :8]
    features = feature_frame(base, noise=0.1, seed=1)
    labels = _labels(base[:, 3] > 0, 80)
    predictions, n_features = cross_validated_predictions(features, labels, REFERENCE, settings)
    results = condition_results(predictions, REFERENCE, 0.95, 0.5)
    assert n_features == base.shape[1]
    assert len(results) == len(CONDITIONS)
    assert (results["auc"] > 0.9).all(), results
    assert (results["ci_low"] > 0.75).all()
    ref = results[results["is_reference"]].iloc[0]
    assert ref["delta_auc"] == 0 and ref["probability_ccc"] == pytest.approx(1) and ref["flip_share"] == 0
    assert (results["probability_ccc"] > 0.9).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_independent_of_every_feature_stays_at_chance_and_its_interval_covers_half(seed):
    rng = np.random.default_rng(100 + seed)
    base = rng.normal(size=(80, 200))
    features = feature_frame(base, noise=0.1, seed=seed)
    labels = _labels(rng.permutation(np.r_[np.ones(40), np.zeros(40)]), 80)
    predictions, _ = cross_validated_predictions(features, labels, REFERENCE, SETTINGS)
    results = condition_results(predictions, REFERENCE, 0.95, 0.5)
    assert (results["auc"].sub(0.5).abs() < 0.2).all(), results
    assert ((results["ci_low"] < 0.5) & (results["ci_high"] > 0.5)).all(), results


def test_every_condition_of_a_patient_is_predicted_by_the_fold_model_that_never_saw_that_patient():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 5))
    features = feature_frame(base, noise=0.3, seed=3)
    labels = _labels(base[:, 0] > 0, 30)
    settings = ModelSettings(n_folds=3, seed=4, c=1.0, pca_components=None, max_iter=1000)
    predictions, _ = cross_validated_predictions(features, labels, REFERENCE, settings)
    # Same fold for a patient in every condition, and it is the stratified fold of the labels.
    assert (predictions.groupby("patient_id")["fold"].nunique() == 1).all()
    folds = patient_folds(labels, settings)
    assert (predictions.set_index("patient_id")["fold"].groupby(level=0).first() == folds).all()
    # Refit fold 1's model by hand on the other folds' reference scans: it gives the predictions
    # of fold 1's patients under a non-reference condition.
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    names = [f"f{j:03d}" for j in range(5)]
    ref = features[(features.kernel == "medium") & (features.slice_thickness_mm == 1.0)].set_index("patient_id")
    sharp = features[features.kernel == "sharp"].set_index("patient_id")
    train = folds.index[folds != 1]
    test = folds.index[folds == 1]
    scaler = StandardScaler().fit(ref.loc[train, names])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(ref.loc[train, names]), labels[train])
    expected = model.predict_proba(scaler.transform(sharp.loc[test, names]))[:, 1]
    ours = predictions[(predictions.kernel == "sharp")].set_index("patient_id").loc[test, "probability"]
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-9)


def test_no_leakage_a_test_patients_features_and_label_do_not_change_its_fold_mates_predictions():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(40, 30))
    features = feature_frame(base, noise=0.2, seed=5)
    labels = _labels(base[:, 0] > 0, 40)
    predictions, _ = cross_validated_predictions(features, labels, REFERENCE, SETTINGS)
    folds = patient_folds(labels, SETTINGS)
    patient = folds.index[0]
    # Wildly different features for one patient, in every condition (the scaler and PCA would
    # notice if they were fitted on it) ...
    changed = features.copy()
    names = [c for c in features.columns if c.startswith("f")]
    changed.loc[changed.patient_id == patient, names] = 1e3
    again, _ = cross_validated_predictions(changed, labels, REFERENCE, SETTINGS)
    mates = folds.index[(folds == folds[patient]) & (folds.index != patient)]
    key = ["patient_id", "kernel", "slice_thickness_mm"]
    before = predictions.set_index(key).loc[list(mates)]["probability"].sort_index()
    after = again.set_index(key).loc[list(mates)]["probability"].sort_index()
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-12)
    # ... and the patients outside its fold do see it (the check above is not vacuous).
    others = folds.index[folds != folds[patient]]
    assert not np.allclose(again.set_index(key).loc[list(others)]["probability"].sort_index(),
                           predictions.set_index(key).loc[list(others)]["probability"].sort_index())


def test_patient_folds_are_stratified_seeded_and_independent_of_row_order():
    labels = _labels(np.r_[np.ones(12), np.zeros(18)], 30)
    folds = patient_folds(labels, SETTINGS)
    shuffled = patient_folds(labels.sample(frac=1, random_state=1), SETTINGS)
    pd.testing.assert_series_equal(folds, shuffled)
    counts = pd.crosstab(folds, labels)
    assert (counts[1] >= 2).all() and (counts[0] >= 3).all()
    assert sorted(folds.unique()) == list(range(5))


def test_model_settings_reject_bad_parameters():
    good = {"n_folds": 5, "seed": 0, "model": {"C": 0.1, "pca_components": 10, "max_iter": 100}}
    assert ModelSettings.of(good).pca_components == 10
    with pytest.raises(ValueError, match=r"downstream.n_folds must be an integer >= 2, got 1"):
        ModelSettings.of({**good, "n_folds": 1})
    with pytest.raises(ValueError, match=r"downstream.model.C must be > 0"):
        ModelSettings.of({**good, "model": {**good["model"], "C": 0}})
    with pytest.raises(ValueError, match=r"pca_components must be a positive integer or null, got 0"):
        ModelSettings.of({**good, "model": {**good["model"], "pca_components": 0}})


def test_two_scans_of_one_patient_and_condition_are_an_error():
    features = feature_frame(np.random.default_rng(0).normal(size=(10, 3)))
    doubled = pd.concat([features, features.iloc[[0]]], ignore_index=True)
    labels = _labels(np.arange(10) % 2, 10)
    with pytest.raises(ValueError, match=r"The feature table has 2 scans sharing a \(patient, condition\), e.g. "
                                         r"patient 'P000' under smooth 1.0 mm"):
        cross_validated_predictions(doubled, labels, REFERENCE, SETTINGS)


def test_a_labelled_patient_without_a_reference_scan_is_left_out_and_named(caplog):
    rng = np.random.default_rng(6)
    features = feature_frame(rng.normal(size=(20, 3)))
    features = features[~((features.patient_id == "P004") & (features.kernel == "medium")
                          & (features.slice_thickness_mm == 1.0))]
    labels = _labels(np.arange(20) % 2, 20)
    settings = ModelSettings(n_folds=3, seed=0, c=1.0, pca_components=None, max_iter=1000)
    with caplog.at_level("WARNING"):
        predictions, _ = cross_validated_predictions(features, labels, REFERENCE, settings)
    assert "1 labelled patient(s) have no medium_1.0 scan" in caplog.text and "P004" in caplog.text
    assert "P004" not in set(predictions.patient_id)
    assert predictions.patient_id.nunique() == 19
