"""Several nodules per patient through `kedro run`, from a DICOM folder to the agreement report.

Three patients with 3, 2 and 3 nodules, each scanned under the six reconstruction conditions
(real DICOM series written slice by slice), `ingestion.nodule_selection: all`: every stage must
keep one row per nodule, and the agreement analysis must pair the nodules by (patient,
nodule) and say how many nodules and patients it used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.dicom.series_writer import ct_volume, write_series
from tests.integration.test_kedro_run import SUMMARY_COLUMNS, copy_project, independent_ccc, kedro

pytestmark = pytest.mark.slow

# Siemens kernels of each class (conf/base/parameters_dicom_kernels.yml).
KERNELS = {"smooth": "B30f", "medium": "B45f", "sharp": "B70f"}
THICKNESSES = (1.0, 2.0)
ORIGIN = (-25.6, -25.6, -100.0)  # 64 x 64 pixels of 0.8 mm, 24 mm deep
CENTRES = ((-12.0, -10.0, -90.0), (10.0, 8.0, -86.0), (0.0, -14.0, -82.0))
# patient -> nodule diameters (mm); nodule i sits at CENTRES[i]
PATIENTS = {"LD01": (7.0, 5.0, 6.0), "LD02": (8.0, 6.0), "LD03": (5.5, 7.5, 6.5)}
N_UNITS = sum(len(d) for d in PATIENTS.values())


def write_study(raw: Path) -> None:
    """The DICOM series under raw/dicom and the nodule list raw/nodules.csv."""
    lines = ["patient_id,nodule_id,coordX,coordY,coordZ,diameter_mm"]
    seed = 0
    for patient, diameters in PATIENTS.items():
        nodules = [(CENTRES[i], d) for i, d in enumerate(diameters)]
        lines += [f"{patient},n{i + 1},{c[0]},{c[1]},{c[2]},{d}" for i, (c, d) in enumerate(nodules)]
        for name in KERNELS.values():
            for thickness in THICKNESSES:
                seed += 1
                image = ct_volume(
                    size=(64, 64, round(24 / thickness)),
                    spacing=(0.8, 0.8, thickness),
                    origin=ORIGIN,
                    nodules=nodules,
                    seed=seed,
                )
                write_series(image, raw / "dicom" / patient / f"{name}_{thickness:g}", patient_id=patient, kernel=name)
    (raw / "nodules.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("multi_nodule"))
    write_study(project / "data" / "01_raw")
    params = (
        "ingestion.source=dicom,ingestion.nodule_selection=all,ingestion.masks.mode=reference_propagated,"
        "fm.batch_size=4,agreement.bootstrap.n_resamples=100"
    )
    result = kedro(project, "run", "--params", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def test_every_stage_keeps_one_row_per_nodule(study):
    scans = pd.read_parquet(study / "data/02_intermediate/scans.parquet")
    assert len(scans) == N_UNITS * 6
    assert scans.groupby("patient_id")["nodule_id"].nunique().to_dict() == {p: len(d) for p, d in PATIENTS.items()}
    for name in ("fm_features", "radiomics_features"):
        table = pd.read_parquet(study / f"data/04_feature/{name}.parquet")
        assert list(table.columns[:5]) == ["scan_id", "patient_id", "nodule_id", "kernel", "slice_thickness_mm"]
        assert len(table[["patient_id", "nodule_id"]].drop_duplicates()) == N_UNITS


def test_summary_keeps_its_columns_and_counts_nodules_and_patients(study):
    reporting = study / "data/08_reporting"
    summary = pd.read_csv(reporting / "agreement_summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS and len(summary) == 2 * 5
    ci = pd.read_csv(reporting / "agreement_summary_ci.csv")
    assert (ci["n_units"] == N_UNITS).all() and (ci["n_patients"] == len(PATIENTS)).all()
    per_feature = pd.read_parquet(reporting / "agreement_per_feature.parquet")
    assert (per_feature["n_units"] == N_UNITS).all() and (per_feature["n_patients"] == len(PATIENTS)).all()
    assert f"n = {N_UNITS} nodules of {len(PATIENTS)} patients" in (reporting / "agreement_table.md").read_text()
    report = (reporting / "agreement_report.html").read_text(encoding="utf-8")
    assert f"{N_UNITS} nodules of {len(PATIENTS)} patients" in report and "cluster bootstrap" in report


def test_ccc_pairs_nodules_by_patient_and_nodule_id(study):
    radiomics = pd.read_parquet(study / "data/04_feature/radiomics_features.parquet")
    per_feature = pd.read_parquet(study / "data/08_reporting/agreement_per_feature.parquet")
    feature = "original_firstorder_Mean"
    by_unit = radiomics.set_index(["patient_id", "nodule_id", "kernel", "slice_thickness_mm"])[feature]
    units = sorted({(p, n) for p, n in zip(radiomics["patient_id"], radiomics["nodule_id"])})
    x = np.array([by_unit[(p, n, "medium", 1.0)] for p, n in units])
    y = np.array([by_unit[(p, n, "sharp", 2.0)] for p, n in units])
    row = per_feature[
        (per_feature.extractor == "radiomics") & (per_feature.kernel == "sharp")
        & (per_feature.slice_thickness_mm == 2.0) & (per_feature.feature == feature)
    ]  # fmt: skip
    assert row["ccc"].item() == pytest.approx(independent_ccc(x, y), rel=1e-9)
