"""Synthetic feature tables with several nodules per patient, for the agreement tests.

Every value is ``patient effect + nodule effect + condition noise``: the nodules of one patient
share the patient effect, so with ``within_patient`` near 1 they are far from independent, which
is what the patient-level (cluster) bootstrap has to respect.
"""

import numpy as np
import pandas as pd

CONDITIONS = [(kernel, thickness) for kernel in ("smooth", "medium", "sharp") for thickness in (1.0, 2.0)]
RADIOMICS_NAMES = (
    "original_firstorder_Mean",
    "original_firstorder_Energy",
    "original_glcm_Contrast",
    "original_glcm_Correlation",
    "original_glrlm_RunEntropy",
    "original_ngtdm_Busyness",
)


def clustered_features(
    nodules_per_patient,
    *,
    seed: int = 0,
    within_patient: float = 0.5,
    noise: float = 0.4,
    names=RADIOMICS_NAMES,
    nodule_ids: bool = True,
    constant_feature: bool = True,
) -> pd.DataFrame:
    """One row per (patient, nodule, condition) with ``scan_id``, ``patient_id``, ``nodule_id``
    (or no such column when ``nodule_ids`` is False, as in tables written before it existed),
    ``kernel``, ``slice_thickness_mm`` and one column per feature of ``names``.

    Args:
        nodules_per_patient: the number of nodules of each patient (its length is the number of
            patients).
        within_patient: share of a feature's between-nodule variance that the nodules of one
            patient share (the intra-class correlation of the truth).
        noise: SD of each condition's noise relative to the truth's SD (0 under medium 1.0 mm).
        constant_feature: make the first feature 5.0 in every scan (constant in both
            conditions: undefined agreement).
    """
    rng = np.random.default_rng(seed)
    n_features = len(names)
    scales = rng.uniform(0.5, 5.0, n_features)
    offsets = rng.uniform(-10.0, 10.0, n_features)
    truths, ids = [], []
    for number, n_nodules in enumerate(nodules_per_patient, start=1):
        patient = rng.normal(size=n_features) * np.sqrt(within_patient)
        for nodule in range(1, n_nodules + 1):
            truths.append(patient + rng.normal(size=n_features) * np.sqrt(1.0 - within_patient))
            ids.append((f"P{number:02d}", str(nodule)))
    truth = offsets + scales * np.array(truths)
    rows = []
    for kernel, thickness in CONDITIONS:
        sd = 0.0 if (kernel, thickness) == ("medium", 1.0) else noise
        values = truth + rng.normal(size=truth.shape) * sd * scales
        shift = 0.3 * scales * (CONDITIONS.index((kernel, thickness)) % 3)
        values = values + shift
        if constant_feature:
            values[:, 0] = 5.0
        for (patient, nodule), row in zip(ids, values):
            rows.append(
                {
                    "scan_id": f"{patient}_{kernel}_{thickness:.1f}mm" + (f"_{nodule}" if nodule_ids else ""),
                    "patient_id": patient,
                    **({"nodule_id": nodule} if nodule_ids else {}),
                    "kernel": kernel,
                    "slice_thickness_mm": thickness,
                    **dict(zip(names, row)),
                }
            )
    return pd.DataFrame(rows)
