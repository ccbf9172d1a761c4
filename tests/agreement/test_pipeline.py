"""The agreement pipeline run by Kedro's runner on an in-memory catalog: its free inputs, every
output's schema, the MLflow metric keys and the HTML report's content."""

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from lung_fm_robustness.agreement.run_metadata import SOFTWARE, software_versions
from lung_fm_robustness.agreement.study import PER_FEATURE_COLUMNS, SUMMARY_COLUMNS
from lung_fm_robustness.datasets.scan_table import ScanTable
from lung_fm_robustness.pipelines.agreement import create_pipeline
from lung_fm_robustness.pipelines.agreement.nodes import build_report

ROOT = Path(__file__).resolve().parents[2]
CONDITIONS = [(k, t) for k in ("smooth", "medium", "sharp") for t in (1.0, 2.0)]
TEST_LABELS = ["smooth_1.0", "smooth_2.0", "medium_2.0", "sharp_1.0", "sharp_2.0"]
SHA256 = "1a2b3c4d5e6f" + "0" * 52
FM_EXTRACTOR = {"label": "fmcib-1a2b3c4d5e6f", "weights_path": "/w.torch", "sha256": SHA256, "seed": None, "resampling": "exact"}
RADIOMICS_EXTRACTOR = {"label": "pyradiomics-3.1.4 <bhklab>", "settings": {"setting.binWidth": 25}}
RADIOMICS_NAMES = [
    f"original_{feature_class}_{name}"
    for feature_class, names in {
        "firstorder": ["Mean", "Energy"], "glcm": ["Contrast", "Idm"], "glrlm": ["RunEntropy"],
        "glszm": ["ZoneEntropy"], "gldm": ["DependenceEntropy"], "ngtdm": ["Busyness", "Strength"],
    }.items()
    for name in names
]  # fmt: skip
N_PATIENTS = 10


def feature_tables(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """FM and radiomics tables (one row per scan) and the scan table they come from."""
    scans = pd.DataFrame(
        [
            {"scan_id": f"P{i:02d}_{k}_{t}", "patient_id": f"P{i:02d}", "kernel": k, "slice_thickness_mm": t, "source": "phantom"}
            for i in range(N_PATIENTS)
            for k, t in CONDITIONS
        ]
    )
    tables = []
    for names in ([f"fm_{i:04d}" for i in range(25)], RADIOMICS_NAMES):
        truth = rng.lognormal(0, 1, len(names)) * rng.normal(size=(N_PATIENTS, len(names)))
        truth[:, 0] = 0.0  # a dead channel / constant feature
        noise = {c: (0.0 if c == ("medium", 1.0) else rng.uniform(0.1, 0.8)) for c in CONDITIONS}
        values = np.vstack(
            [truth[i] + rng.normal(0, noise[(k, t)], len(names)) * truth.std(axis=0)
             for i in range(N_PATIENTS) for k, t in CONDITIONS]
        )  # fmt: skip
        ids = scans[["scan_id", "patient_id", "kernel", "slice_thickness_mm"]]
        tables.append(pd.concat([ids, pd.DataFrame(values, columns=names)], axis=1))
    return tables[0], tables[1], scans


def agreement_params(**changes) -> dict:
    params = yaml.safe_load((ROOT / "conf/base/parameters_agreement.yml").read_text(encoding="utf-8"))["agreement"]
    params["bootstrap"]["n_resamples"] = 100
    params.update(changes)
    return params


@pytest.fixture(scope="module")
def inputs() -> dict:
    fm, radiomics, scans = feature_tables(np.random.default_rng(0))
    return {
        "fm_features": fm,
        "radiomics_features": radiomics,
        "fm_extractor": FM_EXTRACTOR,
        "radiomics_extractor": RADIOMICS_EXTRACTOR,
        "scans": ScanTable(scans.set_index("scan_id", drop=False)),
        "params:agreement": agreement_params(metrics=["ccc", "icc3_1", "icc2_1"]),
    }


class KeptDataset(AbstractDataset):
    """Keeps what is saved (a MemoryDataset is released once no node needs it)."""

    def __init__(self) -> None:
        self.data = None

    def load(self):
        return self.data

    def save(self, data) -> None:
        self.data = data

    def _describe(self) -> dict:
        return {}


@pytest.fixture(scope="module")
def outputs(inputs) -> dict:
    pipeline = create_pipeline()
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    for name in pipeline.all_outputs():
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}


def test_free_inputs_are_the_persisted_stage_outputs():
    assert create_pipeline().inputs() == {
        "fm_features", "radiomics_features", "fm_extractor", "radiomics_extractor", "scans", "params:agreement"
    }  # fmt: skip


def test_summary_keeps_exactly_its_columns(outputs):
    summary = outputs["agreement_summary"]
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == 2 * 5


def test_per_feature_keeps_its_columns_first_and_adds_the_rest(outputs):
    per_feature = outputs["agreement_per_feature"]
    assert list(per_feature.columns) == [*PER_FEATURE_COLUMNS, "icc3_1", "icc2_1"]
    assert list(per_feature.columns[:6]) == ["extractor", "kernel", "slice_thickness_mm", "feature", "ccc", "n_patients"]
    radiomics = per_feature[per_feature["extractor"] == "radiomics"]
    assert set(radiomics["feature_class"]) == {"firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
    assert set(per_feature.loc[per_feature["extractor"] == "fm", "feature_class"]) == {"fm"}
    defined = per_feature["ccc"].notna()
    assert per_feature.loc[~defined, "mcbride_band"].isna().all()
    assert (per_feature.loc[defined, "ccc_ci_low"] <= per_feature.loc[defined, "ccc"]).all()


def test_summary_ci_has_every_coefficient_and_matches_the_summary(outputs):
    summary_ci = outputs["agreement_summary_ci"]
    assert len(summary_ci) == 2 * 5 * 3
    ccc = summary_ci[summary_ci["metric"] == "ccc"].reset_index(drop=True)
    np.testing.assert_array_equal(ccc["mean"], outputs["agreement_summary"]["mean_ccc"])
    assert (summary_ci["n_resamples"] == 100).all()


def test_metric_keys(outputs):
    metrics = outputs["agreement_metrics"]
    assert all(set(entry) == {"value", "step"} and type(entry["value"]) is float for entry in metrics.values())
    keys = set(metrics)
    for prefix in (f"{e}.{c}" for e in ("fm", "radiomics") for c in TEST_LABELS):
        for name in ("mean_ccc", "median_ccc", "pct_strong", "n_undefined"):
            assert f"{prefix}.{name}" in keys
        for name in ("mean_ccc", "median_ccc", "pct_strong"):
            assert {f"{prefix}.{name}_ci_low", f"{prefix}.{name}_ci_high"} <= keys
        for coefficient in ("icc3_1", "icc2_1"):
            assert f"{prefix}.{coefficient}.n_undefined" in keys
            for stat in ("mean", "median", "pct_strong"):
                assert {f"{prefix}.{coefficient}.{stat}{part}" for part in ("", "_ci_low", "_ci_high")} <= keys
    assert len(keys) == 10 * (4 + 6 + 2 * 10)
    assert metrics["fm.smooth_2.0.mean_ccc"]["value"] == pytest.approx(
        outputs["agreement_summary"].query("extractor == 'fm' and kernel == 'smooth' and slice_thickness_mm == 2.0")["mean_ccc"].item()
    )


def test_breakdown_outputs(outputs):
    by_class = outputs["agreement_by_feature_class"]
    assert len(by_class) == (1 + 6) * 5
    effects = outputs["agreement_kernel_vs_thickness"]
    assert set(effects["varied"]) == {"kernel", "slice_thickness_mm"}
    assert effects["is_reference"].sum() == 2 * 2  # the reference, in both groupings of both extractors


def test_report_content(outputs):
    report = outputs["agreement_report"]
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    for text in ("fmcib-1a2b3c4d5e6f (resampling: exact)", SHA256, "pyradiomics-3.1.4 &lt;bhklab&gt;", "phantom",
                 "medium kernel, 1.0 mm", "ICC(3,1), consistency", "ICC(2,1), absolute agreement",
                 "100 resamples, seed 0", "Bland-Altman", "By feature class", "Kernel versus slice thickness"):  # fmt: skip
        assert text in report, text
    assert "<bhklab>" not in report  # labels are escaped
    for kernel, thickness in CONDITIONS:
        assert f"{kernel} kernel, {thickness:.1f} mm" in report
    assert f"Patients (scan table)</th><td class=\"text\">{N_PATIENTS}<" in report
    for name, version in software_versions().items():
        assert f"{name} {version}" in report
    assert set(SOFTWARE) | {"python"} == set(software_versions())
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report)
    assert len(images) == 3  # distributions, heatmap, Bland-Altman
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)


def test_report_names_the_worst_radiomics_condition_and_its_extreme_features(outputs):
    per_feature = outputs["agreement_per_feature"]
    radiomics = per_feature[per_feature["extractor"] == "radiomics"]
    means = radiomics.groupby(["kernel", "slice_thickness_mm"])["ccc"].mean()
    kernel, thickness = means.idxmin()
    worst = radiomics[(radiomics.kernel == kernel) & (radiomics.slice_thickness_mm == thickness)].set_index("feature")["ccc"]
    report = outputs["agreement_report"]
    assert f"radiomics features under {kernel}_{thickness:.1f}, the condition with the lowest mean" in report
    for feature in (worst.idxmin(), worst.idxmax()):
        assert f"<code>{feature}</code> (CCC {worst[feature]:.3f})" in report


def test_random_init_control_is_said_so_and_ccc_only_has_no_icc(inputs, outputs):
    changed = {**inputs, "fm_extractor": {**FM_EXTRACTOR, "label": "resnet50-random-init", "sha256": None}}
    params = agreement_params()
    per_feature = outputs["agreement_per_feature"].drop(columns=["icc3_1", "icc2_1"])
    summary_ci = outputs["agreement_summary_ci"].query("metric == 'ccc'")
    report = build_report(
        per_feature, summary_ci, outputs["agreement_by_feature_class"], outputs["agreement_kernel_vs_thickness"],
        changed["radiomics_features"], changed["fm_extractor"], changed["radiomics_extractor"], changed["scans"], params,
    )  # fmt: skip
    assert "none: random-init control network, not the foundation model" in report
    assert "resnet50-random-init" in report and SHA256 not in report
    assert "ICC(" not in report


def test_report_has_every_section_in_order(outputs):
    titles = re.findall(r"<h2>(.*?)</h2>", outputs["agreement_report"])
    assert titles == [
        "Run", "Summary", "CCC distributions", "McBride strength of agreement", "By feature class",
        "Kernel versus slice thickness", "Radiomics features by condition", "Bland-Altman plots", "Methods",
    ]  # fmt: skip
