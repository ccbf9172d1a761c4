"""Project datasets for what kedro-datasets does not cover: CT volumes and scan tables."""
from lung_fm_robustness.datasets.ct_volume import CTVolumeDataset
from lung_fm_robustness.datasets.dicom_folder import DicomFolderDataset
from lung_fm_robustness.datasets.feature_row import FeatureRowDataset
from lung_fm_robustness.datasets.nodule_csv import NoduleCsvDataset
from lung_fm_robustness.datasets.resumable_partitions import ResumablePartitionedDataset
from lung_fm_robustness.datasets.scan_manifest import ScanManifestDataset
from lung_fm_robustness.datasets.scan_table import ScanTableDataset

__all__ = [
    "CTVolumeDataset",
    "DicomFolderDataset",
    "FeatureRowDataset",
    "NoduleCsvDataset",
    "ResumablePartitionedDataset",
    "ScanManifestDataset",
    "ScanTableDataset",
]
