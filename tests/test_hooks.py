"""Project hooks: the manifest path parameter reaches the catalog; extractor tags are flat."""
from __future__ import annotations

from kedro.io import DataCatalog

from lung_fm_robustness.datasets import ScanManifestDataset
from lung_fm_robustness.hooks import InputManifestHook, extractor_tags


def test_manifest_path_parameter_points_the_input_manifest_dataset():
    catalog = DataCatalog({"input_manifest": ScanManifestDataset("data/01_raw/manifest.csv")})
    InputManifestHook().after_catalog_created(
        catalog, {"parameters": {"ingestion": {"manifest_path": "/study/manifest.csv"}}}
    )
    assert catalog["input_manifest"].load().filepath.as_posix() == "/study/manifest.csv"


def test_extractor_tags_keep_identity_and_leave_out_nested_settings():
    info = {"label": "fmcib-0123456789ab", "sha256": "0123456789ab" * 5 + "cdef", "seed": None, "settings": {"a": 1}}
    assert extractor_tags("fm", info) == {"fm.label": "fmcib-0123456789ab", "fm.sha256": info["sha256"]}
