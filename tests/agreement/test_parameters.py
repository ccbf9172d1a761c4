"""The agreement parameters: the shipped defaults parse, and every bad value names its parameter."""

from pathlib import Path

import pytest
import yaml

from lung_fm_robustness.agreement.parameters import agreement_parameters
from lung_fm_robustness.agreement.study import Condition

ROOT = Path(__file__).resolve().parents[2]


def defaults() -> dict:
    return yaml.safe_load((ROOT / "conf/base/parameters_agreement.yml").read_text(encoding="utf-8"))["agreement"]


def with_value(path: str, value) -> dict:
    params = defaults()
    *parents, leaf = path.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = value
    return params


def test_shipped_defaults():
    params = agreement_parameters(defaults())
    assert params.reference == Condition("medium", 1.0)
    assert params.threshold == 0.9 and params.confidence == 0.95
    assert params.metrics == ("ccc",)
    assert (params.n_resamples, params.seed) == (1000, 0)
    assert params.allow_missing_patients is False


@pytest.mark.parametrize(
    "value, expected",
    [
        (["ccc", "icc3_1", "icc2_1"], ("ccc", "icc3_1", "icc2_1")),
        ("ccc+icc2_1", ("ccc", "icc2_1")),  # what --params can carry: it splits at commas
        ("ccc icc3_1", ("ccc", "icc3_1")),
        (["ccc icc3_1 icc2_1"], ("ccc", "icc3_1", "icc2_1")),  # --params 'agreement.metrics=[ccc icc3_1 icc2_1]'
        ("ccc", ("ccc",)),
    ],
)
def test_metrics_as_a_list_or_one_string(value, expected):
    assert agreement_parameters(with_value("metrics", value)).metrics == expected


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("metrics", ["ccc", "icc"], r"agreement.metrics: unknown \['icc'\]; allowed: ccc, icc3_1, icc2_1"),
        ("metrics", ["icc3_1"], "agreement.metrics must include ccc"),
        ("metrics", ["ccc", "ccc"], "agreement.metrics lists a coefficient twice"),
        ("confidence", 95, r"agreement.confidence must be in \(0, 1\)"),
        ("confidence", 1.0, r"agreement.confidence must be in \(0, 1\)"),
        ("threshold", 1.2, r"agreement.threshold must be in \[-1, 1\]"),
        ("bootstrap.n_resamples", 0, "agreement.bootstrap.n_resamples must be an integer >= 1"),
        ("bootstrap.n_resamples", 100.5, "agreement.bootstrap.n_resamples must be an integer"),
        ("bootstrap.seed", -1, "agreement.bootstrap.seed must be an integer >= 0"),
        ("bootstrap.seed", True, "agreement.bootstrap.seed must be an integer"),
    ],
)
def test_bad_values_name_the_parameter(path, value, message):
    with pytest.raises(ValueError, match=message):
        agreement_parameters(with_value(path, value))
