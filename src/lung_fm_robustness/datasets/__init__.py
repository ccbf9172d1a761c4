"""Project datasets for what kedro-datasets does not cover: CT volumes and scan tables."""
from lung_fm_robustness.datasets.ct_volume import CTVolumeDataset
from lung_fm_robustness.datasets.scan_manifest import ScanManifestDataset
from lung_fm_robustness.datasets.scan_table import ScanTableDataset

__all__ = ["CTVolumeDataset", "ScanManifestDataset", "ScanTableDataset"]
