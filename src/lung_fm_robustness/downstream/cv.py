"""Patient-level cross-validation on the reference condition, the same fold models applied to
every other condition.

Folds are stratified over the patients with a reference scan (seeded). Each fold's model is
fitted on the reference scans of its training patients only (standardisation and PCA included,
so nothing about the test patients leaks in), then predicts the test patients' scans under
every condition: each condition's out-of-fold predictions come from models that never saw
those patients.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lung_fm_robustness.agreement.study import Condition
from lung_fm_robustness.features import ID_COLUMNS

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["patient_id", "kernel", "slice_thickness_mm", "fold", "label", "probability"]


@dataclass(frozen=True)
class ModelSettings:
    """The downstream model: L2 logistic regression on standardised features, through PCA when
    there are more features than ``pca_components``."""

    n_folds: int
    seed: int
    c: float
    pca_components: int | None
    max_iter: int

    @classmethod
    def of(cls, downstream: dict[str, Any]) -> ModelSettings:
        model = downstream["model"]
        n_folds = downstream["n_folds"]
        if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
            raise ValueError(f"downstream.n_folds must be an integer >= 2, got {n_folds!r}")
        if not float(model["C"]) > 0:
            raise ValueError(f"downstream.model.C must be > 0 (inverse L2 strength), got {model['C']!r}")
        pca = model["pca_components"]
        if pca is not None and (isinstance(pca, bool) or not isinstance(pca, int) or pca < 1):
            raise ValueError(f"downstream.model.pca_components must be a positive integer or null, got {pca!r}")
        return cls(n_folds, int(downstream["seed"]), float(model["C"]), pca, int(model["max_iter"]))

    def pipeline(self, n_features: int, n_train: int) -> Pipeline:
        steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
        if self.pca_components is not None and n_features > self.pca_components:
            steps.append(("pca", PCA(n_components=min(self.pca_components, n_train - 1), random_state=self.seed)))
        steps.append(("model", LogisticRegression(C=self.c, max_iter=self.max_iter)))
        return Pipeline(steps)


def patient_folds(labels: pd.Series, settings: ModelSettings) -> pd.Series:
    """Fold (0..K-1) of every patient, stratified by label and seeded; ``labels`` is indexed
    by patient_id (sorted first, so the folds do not depend on row order)."""
    labels = labels.sort_index()
    folds = pd.Series(-1, index=labels.index, name="fold")
    splitter = StratifiedKFold(n_splits=settings.n_folds, shuffle=True, random_state=settings.seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels.to_numpy())):
        folds.iloc[test] = fold
    return folds


def cross_validated_predictions(
    features: pd.DataFrame, labels: pd.Series, reference: Condition, settings: ModelSettings
) -> tuple[pd.DataFrame, int]:
    """Out-of-fold predicted probabilities of every labelled patient's scan under every
    condition (columns ``PREDICTION_COLUMNS``), and the number of features used.

    ``features``: one row per scan, ``ID_COLUMNS`` plus feature columns; features with a
    non-finite value in any scan are left out (the count used is returned). ``labels``: 0/1
    indexed by patient_id; patients without a reference scan cannot be in a fold and are left
    out (the caller counts them through n_patients).
    """
    key = ["patient_id", "kernel", "slice_thickness_mm"]
    duplicated = features[features.duplicated(key, keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        raise ValueError(
            f"The feature table has {len(duplicated)} scans sharing a (patient, condition), e.g. patient "
            f"{first['patient_id']!r} under {first['kernel']} {float(first['slice_thickness_mm']):.1f} mm; the "
            "downstream tasks have one label and one scan per patient and condition. Fix: keep one nodule per "
            "patient (ingestion.nodule_selection: random or largest)."
        )
    names = [c for c in features.columns if c not in ID_COLUMNS]
    values = features[names].to_numpy(dtype=np.float64)
    finite = np.isfinite(values).all(axis=0)
    values = values[:, finite]
    patients = features["patient_id"].astype(str).to_numpy()
    conditions = [Condition(k, t) for k, t in zip(features["kernel"], features["slice_thickness_mm"])]
    is_reference = np.array([c == reference for c in conditions])
    reference_patients = pd.Index(patients[is_reference])
    without_reference = labels.index[~labels.index.isin(reference_patients)]
    if len(without_reference):
        logger.warning("%d labelled patient(s) have no %s scan and are left out of the folds (n_patients counts "
                       "those used): %s", len(without_reference), reference.label, ", ".join(map(str, without_reference)))
    labels = labels[labels.index.isin(reference_patients)]
    folds = patient_folds(labels, settings)
    fold_of = folds.reindex(patients).to_numpy()  # NaN for unlabelled patients
    label_of = labels.reindex(patients).to_numpy()
    probability = np.full(len(patients), np.nan)
    for fold in range(settings.n_folds):
        train = is_reference & (fold_of != fold) & ~np.isnan(fold_of)
        model = settings.pipeline(values.shape[1], int(train.sum()))
        model.fit(values[train], label_of[train].astype(int))
        test = fold_of == fold
        probability[test] = model.predict_proba(values[test])[:, 1]
    kept = ~np.isnan(fold_of)
    predictions = pd.DataFrame(
        {
            "patient_id": patients[kept],
            "kernel": [c.kernel for c, k in zip(conditions, kept) if k],
            "slice_thickness_mm": [c.slice_thickness_mm for c, k in zip(conditions, kept) if k],
            "fold": fold_of[kept].astype(np.int64),
            "label": label_of[kept].astype(np.int64),
            "probability": probability[kept],
        }
    )
    return predictions[PREDICTION_COLUMNS], int(finite.sum())
