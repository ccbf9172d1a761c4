"""Ingestion nodes: simulate the phantom study, then register the scans of the chosen source."""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pandas as pd
import SimpleITK as sitk

from lung_fm_robustness.datasets.scan_manifest import ManifestSource
from lung_fm_robustness.manifest import REQUIRED_COLUMNS, scan_id
from lung_fm_robustness.phantom import study as phantom
from lung_fm_robustness.progress import ScanProgress

logger = logging.getLogger(__name__)

SOURCES = ("phantom", "manifest")
MANIFEST_COLUMNS = (*REQUIRED_COLUMNS, "mask_path")


def check_source(ingestion: dict[str, Any]) -> str:
    """The configured ``ingestion.source``; anything else is an error listing the choices."""
    source = ingestion.get("source")
    if source not in SOURCES:
        raise ValueError(
            f"ingestion.source must be one of {', '.join(SOURCES)}, got {source!r}."
        )
    return source


def simulate_phantom_study(
    ingestion: dict[str, Any],
) -> tuple[dict[str, Callable[[], sitk.Image]], dict[str, Callable[[], sitk.Image]], pd.DataFrame, pd.DataFrame]:
    """The embedded phantom: volumes, ground-truth masks, its manifest and nodule truth.

    Volumes and masks are returned as callables, rendered one at a time while the
    partitioned datasets save them, so memory holds one patient at most. With
    ``ingestion.source: manifest`` nothing is simulated and the outputs are empty.
    """
    if check_source(ingestion) != "phantom":
        logger.info("ingestion.source is %r: phantom simulation skipped.", ingestion["source"])
        return {}, {}, pd.DataFrame(columns=list(MANIFEST_COLUMNS)), pd.DataFrame()
    config = phantom.PhantomConfig.from_params(ingestion["phantom"])
    layout = ingestion["phantom_layout"]
    conditions = [(k, t) for k in config.kernels for t in config.slice_thicknesses_mm]
    specs = [phantom.draw_patient(config, i) for i in range(config.n_patients)]
    ids = phantom.patient_ids(config)
    acquisition = lru_cache(maxsize=1)(lambda i: phantom.render_acquisition(config, specs[i]))
    progress = ScanProgress("phantom", len(specs) * len(conditions), logger)

    def image(i: int, kernel: str, thickness: float) -> Callable[[], sitk.Image]:
        def render() -> sitk.Image:
            volume = phantom.reconstruct(config, acquisition(i), kernel, thickness)
            progress.step()
            return volume

        return render

    def mask(i: int, kernel: str, thickness: float) -> Callable[[], sitk.Image]:
        return lambda: phantom.nodule_mask(config, specs[i], kernel, thickness)

    images, masks, rows = {}, {}, []
    for i, patient in enumerate(ids):
        centre = phantom.nodule_centre_lps(specs[i])
        for kernel, thickness in conditions:
            key = scan_id(patient, kernel, thickness)
            images[key] = image(i, kernel, thickness)
            masks[key] = mask(i, kernel, thickness)
            rows.append(
                {
                    "patient_id": patient,
                    "kernel": kernel,
                    "slice_thickness_mm": thickness,
                    "image_path": f"{layout['images']}/{key}{layout['suffix']}",
                    "coordX": centre[0],
                    "coordY": centre[1],
                    "coordZ": centre[2],
                    "mask_path": f"{layout['masks']}/{key}{layout['suffix']}",
                }
            )
    truth = pd.DataFrame([phantom.nodule_truth(config, spec) for spec in specs])
    return images, masks, pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)), truth


def register_scans(
    phantom_manifest: ManifestSource, input_manifest: ManifestSource, ingestion: dict[str, Any]
) -> pd.DataFrame:
    """One validated row per scan of the selected source, keyed by ``scan_id``."""
    source = check_source(ingestion)
    manifest = (phantom_manifest if source == "phantom" else input_manifest).read()
    manifest.insert(
        0,
        "scan_id",
        [scan_id(p, k, t) for p, k, t in manifest[["patient_id", "kernel", "slice_thickness_mm"]].itertuples(index=False)],
    )
    manifest["source"] = source
    conditions = manifest.groupby(["kernel", "slice_thickness_mm"])["patient_id"].nunique()
    n_patients = manifest["patient_id"].nunique()
    logger.info(
        "Registered %d scans of %d patients from the %s: %s",
        len(manifest),
        n_patients,
        source,
        ", ".join(f"{k} {t:.1f} mm ({n})" for (k, t), n in conditions.items()),
    )
    incomplete = conditions[conditions < n_patients]
    if not incomplete.empty:
        logger.warning(
            "%d condition(s) lack some patients; agreement pairs only the patients present in "
            "both conditions and reports the excluded ones.",
            len(incomplete),
        )
    return manifest
