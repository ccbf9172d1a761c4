"""Breakdowns by feature class and by kernel versus slice thickness, checked by hand."""

import numpy as np
import pandas as pd
import pytest

from lung_fm_robustness.agreement.breakdowns import (
    KERNEL_THICKNESS_COLUMNS,
    agreement_by_feature_class,
    kernel_thickness_effects,
)
from lung_fm_robustness.agreement.feature_classes import feature_classes
from lung_fm_robustness.agreement.study import SUMMARY_COLUMNS, Condition

REFERENCE = Condition("medium", 1.0)


def test_feature_classes_from_pyradiomics_names():
    names = ["original_glcm_Contrast", "original_firstorder_10Percentile", "wavelet-LLH_glszm_ZoneEntropy"]
    assert feature_classes("radiomics", names) == ["glcm", "firstorder", "glszm"]
    assert feature_classes("fm", ["fm_0000", "fm_4095"]) == ["fm", "fm"]
    with pytest.raises(ValueError, match=r"\['Contrast'\] are not named <image type>_<class>_<feature>"):
        feature_classes("radiomics", ["original_glcm_Idm", "Contrast"])
    with pytest.raises(ValueError, match="extractor 'ct'"):
        feature_classes("ct", ["a"])


def rows(extractor, feature_class, kernel, thickness, cccs):
    return pd.DataFrame(
        {
            "extractor": extractor,
            "kernel": kernel,
            "slice_thickness_mm": thickness,
            "feature": [f"{feature_class}_{i}" for i in range(len(cccs))],
            "ccc": cccs,
            "feature_class": feature_class,
        }
    )


def test_by_feature_class_by_hand():
    per_feature = pd.concat(
        [
            rows("radiomics", "glcm", "sharp", 1.0, [0.95, 0.5, np.nan]),
            rows("radiomics", "firstorder", "sharp", 1.0, [0.99, 0.91]),
            rows("radiomics", "firstorder", "smooth", 2.0, [0.8, 0.7]),
            rows("fm", "fm", "sharp", 1.0, [0.97, 0.99, 0.93, 0.2]),
        ],
        ignore_index=True,
    )
    table = agreement_by_feature_class(per_feature, threshold=0.9)
    assert list(table.columns) == ["extractor", "feature_class", *SUMMARY_COLUMNS[1:]]
    # fm first; PyRadiomics order (firstorder before glcm); conditions in study order (smooth first)
    assert table[["extractor", "feature_class", "kernel"]].values.tolist() == [
        ["fm", "fm", "sharp"],
        ["radiomics", "firstorder", "smooth"],
        ["radiomics", "firstorder", "sharp"],
        ["radiomics", "glcm", "sharp"],
    ]
    fm, smooth, sharp, glcm = (row for _, row in table.iterrows())
    assert fm["mean_ccc"] == pytest.approx((0.97 + 0.99 + 0.93 + 0.2) / 4) and fm["pct_strong"] == 75.0
    assert smooth["pct_strong"] == 0.0 and smooth["median_ccc"] == pytest.approx(0.75)
    assert sharp["mean_ccc"] == pytest.approx(0.95) and sharp["pct_strong"] == 100.0
    # 3 features, 1 undefined: mean over the 2 defined, half of them strong
    assert (glcm["n_features"], glcm["n_undefined"]) == (3, 1)
    assert glcm["mean_ccc"] == pytest.approx(0.725) and glcm["pct_strong"] == 50.0


def test_kernel_versus_thickness_by_hand():
    values = {  # mean CCC of the five non-reference conditions
        ("smooth", 1.0): 0.95, ("sharp", 1.0): 0.70,
        ("smooth", 2.0): 0.85, ("medium", 2.0): 0.90, ("sharp", 2.0): 0.80,
    }  # fmt: skip
    summary = pd.DataFrame(
        [
            {"extractor": "radiomics", "kernel": k, "slice_thickness_mm": t, "mean_ccc": v, "pct_strong": 100 * v}
            for (k, t), v in values.items()
        ]
    )
    table = kernel_thickness_effects(summary, REFERENCE)
    assert tuple(table.columns) == KERNEL_THICKNESS_COLUMNS
    by_kernel = table[table["varied"] == "kernel"]
    assert by_kernel[["kernel", "slice_thickness_mm", "mean_ccc"]].values.tolist() == [
        ["smooth", 1.0, 0.95], ["medium", 1.0, 1.0], ["sharp", 1.0, 0.70],
        ["smooth", 2.0, 0.85], ["medium", 2.0, 0.90], ["sharp", 2.0, 0.80],
    ]  # fmt: skip
    assert by_kernel["is_reference"].tolist() == [False, True, False, False, False, False]
    # range across kernels: at 1.0 mm 1.0 - 0.70; at 2.0 mm 0.90 - 0.80
    assert by_kernel["mean_ccc_range"].tolist() == pytest.approx([0.30] * 3 + [0.10] * 3)
    by_thickness = table[table["varied"] == "slice_thickness_mm"]
    assert by_thickness[["kernel", "slice_thickness_mm"]].values.tolist() == [
        ["smooth", 1.0], ["smooth", 2.0], ["medium", 1.0], ["medium", 2.0], ["sharp", 1.0], ["sharp", 2.0],
    ]  # fmt: skip
    # range across thicknesses: smooth 0.95 - 0.85, medium 1.0 - 0.90, sharp 0.80 - 0.70
    assert by_thickness["mean_ccc_range"].tolist() == pytest.approx([0.10] * 6)
    reference = table[table["is_reference"]]
    assert (reference["pct_strong"] == 100.0).all() and len(reference) == 2


def test_a_condition_alone_in_its_group_has_no_range():
    summary = pd.DataFrame(
        [{"extractor": "fm", "kernel": "sharp", "slice_thickness_mm": 3.0, "mean_ccc": 0.9, "pct_strong": 90.0}]
    )
    table = kernel_thickness_effects(summary, REFERENCE).set_index(["varied", "kernel", "slice_thickness_mm"])
    # sharp 3.0 mm shares neither kernel nor thickness with the reference medium 1.0 mm
    assert np.isnan(table.loc[("kernel", "sharp", 3.0), "mean_ccc_range"])
    assert np.isnan(table.loc[("slice_thickness_mm", "sharp", 3.0), "mean_ccc_range"])
