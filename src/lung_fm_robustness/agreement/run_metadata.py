"""What a result was computed with, for the report: software versions and the run's settings.

A robustness number is only comparable with another when both name the extractor, the data and
the software behind them.
"""

import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from .study import Condition

# Name shown -> distributions that provide it, in order of preference.
SOFTWARE = {
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "torch": ("torch",),
    "monai": ("monai",),
    "SimpleITK": ("SimpleITK",),
    "pyradiomics": ("pyradiomics", "pyradiomics-bhklab"),
    "kedro": ("kedro",),
    "mlflow": ("mlflow",),
}


@dataclass(frozen=True)
class ExtractorIdentity:
    """One extractor as the feature stages recorded it."""

    name: str  # "fm" or "radiomics", as in the tables
    label: str  # e.g. "fmcib-1a2b3c4d5e6f", "resnet50-random-init", "pyradiomics-3.1.4"
    weights_sha256: str | None = None
    resampling: str | None = None


@dataclass(frozen=True)
class RunMetadata:
    """The settings and provenance printed at the top of the report."""

    extractors: tuple[ExtractorIdentity, ...]
    data_source: str  # "phantom", "manifest", or both joined
    n_patients: int  # patients in the scan table
    conditions: tuple[Condition, ...]  # every reconstruction condition, the reference included
    reference: Condition
    threshold: float
    metrics: tuple[str, ...]
    confidence: float
    n_resamples: int
    seed: int
    software: dict[str, str]
    n_nodules: int | None = None  # nodules in the scan table when it has one row per nodule


def software_versions() -> dict[str, str]:
    """Python's version and that of every package in ``SOFTWARE`` ("not installed" if absent);
    a package installed under another distribution name says which, e.g.
    "3.1.4 (pyradiomics-bhklab)"."""
    versions = {"python": platform.python_version()}
    for name, distributions in SOFTWARE.items():
        versions[name] = "not installed"
        for distribution in distributions:
            try:
                found = version(distribution)
            except PackageNotFoundError:
                continue
            same = distribution.lower() == name.lower()
            versions[name] = found if same else f"{found} ({distribution})"
            break
    return versions
