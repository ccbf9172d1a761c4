"""ComBat across conditions: a constant per-condition shift (and scale) is removed, so agreement
with the reference rises to ~1; unusable features pass through, counted."""
from __future__ import annotations

import numpy as np
import pytest

from lung_fm_robustness.agreement.ccc import lin_ccc
from lung_fm_robustness.downstream.combat import combat_harmonise

from .synthetic import feature_frame


def _pair(table, feature, condition):
    ref = table[(table.kernel == "medium") & (table.slice_thickness_mm == 1.0)].set_index("patient_id")[feature]
    test = table[(table.kernel == condition[0]) & (table.slice_thickness_mm == condition[1])].set_index("patient_id")[feature]
    return ref.to_numpy(), test.loc[ref.index].to_numpy()


def test_a_feature_shifted_by_a_constant_per_condition_is_made_robust():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 20))
    shifts = {("smooth", 1.0): -2.0, ("medium", 2.0): 1.5, ("sharp", 2.0): 3.0}
    table = feature_frame(base, shifts, noise=0.02, seed=1)
    harmonised = combat_harmonise(table)
    names = [f"f{j:03d}" for j in range(20)]
    for condition in shifts:
        before = np.array([lin_ccc(*_pair(table, f, condition)) for f in names])
        after = np.array([lin_ccc(*_pair(harmonised.table, f, condition)) for f in names])
        assert before.max() < 0.6
        # Empirical Bayes shrinks each feature's shift (in units of its own spread) towards
        # the features' mean, so a little of it can remain in a feature with an unusual spread.
        assert after.min() > 0.95 and after.mean() > 0.99, (condition, after)
    assert harmonised.n_features == 20 and harmonised.n_unharmonised == 0
    assert list(harmonised.table.columns) == list(table.columns)
    assert harmonised.table["patient_id"].tolist() == table["patient_id"].tolist()


def test_harmonisation_uses_no_label_and_is_unchanged_by_row_order():
    rng = np.random.default_rng(2)
    table = feature_frame(rng.normal(size=(30, 5)), {("sharp", 2.0): 2.0}, noise=0.1, seed=2)
    shuffled = table.sample(frac=1, random_state=0)
    a = combat_harmonise(table).table.set_index("scan_id").sort_index()
    b = combat_harmonise(shuffled).table.set_index("scan_id").sort_index()
    np.testing.assert_allclose(a["f001"], b["f001"], rtol=1e-8)


def test_constant_and_non_finite_features_pass_through_counted():
    rng = np.random.default_rng(3)
    table = feature_frame(rng.normal(size=(30, 6)), {("sharp", 2.0): 2.0}, noise=0.1, seed=3)
    table["f000"] = 0.0  # a dead channel
    table.loc[3, "f001"] = np.nan
    harmonised = combat_harmonise(table)
    assert harmonised.n_unharmonised == 2
    np.testing.assert_array_equal(harmonised.table["f000"], table["f000"])
    np.testing.assert_array_equal(harmonised.table["f001"], table["f001"])
    assert not np.allclose(harmonised.table["f002"], table["f002"])


def test_one_condition_is_an_error():
    table = feature_frame(np.ones((5, 3)))
    with pytest.raises(ValueError, match="ComBat needs at least two conditions"):
        combat_harmonise(table[table.kernel == "sharp"])
