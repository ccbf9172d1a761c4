"""Kernel class (smooth, medium, sharp...) of a DICOM series, from an editable vendor table.

Which vendor kernel counts as "smooth" is a study decision (B30f is smooth in one study and
standard in another), so the mapping lives in ``conf/base/parameters_dicom_kernels.yml``
(parameter ``kernel_classes``), one entry per vendor::

    siemens:
      manufacturer: 'siemens'            # regex searched in Manufacturer (0008,0070)
      smooth: ['B(1\\d|2\\d|3[01])[a-z]?', 'Br3[2-6][a-z]?']
      medium: [...]
      sharp: [...]

Kernel patterns are regular expressions matched against the whole first value of
ConvolutionKernel (0018,1210) (Siemens writes e.g. ``Br40d\\3``: the kernel, then the
iterative strength), case-insensitively and ignoring surrounding spaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PARAMS_KEY = "kernel_classes"
PARAMS_FILE = "conf/base/parameters_dicom_kernels.yml"
_SAFE_CLASS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class VendorKernels:
    """One vendor's manufacturer pattern and kernel patterns per class."""

    name: str
    manufacturer: re.Pattern
    classes: dict[str, tuple[re.Pattern, ...]]


def first_kernel_value(kernel: str) -> str:
    """The kernel name of a (possibly multi-valued) ConvolutionKernel."""
    return str(kernel).split("\\")[0].strip()


class KernelClassifier:
    """Maps (Manufacturer, ConvolutionKernel) to a kernel class with the vendor table."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        if not isinstance(table, Mapping) or not table:
            raise ValueError(
                f"Parameter '{PARAMS_KEY}' ({PARAMS_FILE}) must map vendors to their "
                f"manufacturer pattern and kernel classes, got {table!r}."
            )
        self.vendors = tuple(self._vendor(name, entry) for name, entry in table.items())

    @staticmethod
    def _vendor(name: str, entry: Any) -> VendorKernels:
        where = f"'{PARAMS_KEY}.{name}' ({PARAMS_FILE})"
        if not isinstance(entry, Mapping) or "manufacturer" not in entry:
            raise ValueError(
                f"{where} needs 'manufacturer' (a regex searched in Manufacturer) and one list "
                f"of kernel patterns per class, e.g. smooth: ['B30f'], got {entry!r}."
            )
        classes = {}
        for kernel_class, patterns in entry.items():
            if kernel_class == "manufacturer":
                continue
            if not _SAFE_CLASS.match(str(kernel_class)):
                raise ValueError(
                    f"{where}: class name {kernel_class!r} must use only letters, digits, '.', "
                    "'_' and '-' (it names output files)."
                )
            if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
                raise ValueError(
                    f"'{PARAMS_KEY}.{name}.{kernel_class}' ({PARAMS_FILE}) must be a list of regexes, "
                    f"got {patterns!r}."
                )
            classes[str(kernel_class)] = tuple(
                _compile(p, f"'{PARAMS_KEY}.{name}.{kernel_class}'") for p in patterns
            )
        return VendorKernels(
            str(name), _compile(entry["manufacturer"], f"'{PARAMS_KEY}.{name}.manufacturer'"), classes
        )

    def vendor(self, manufacturer: str | None) -> VendorKernels | None:
        """The vendor entry whose pattern matches ``manufacturer``; two matches are an error."""
        found = [v for v in self.vendors if manufacturer and v.manufacturer.search(manufacturer)]
        if len(found) > 1:
            raise ValueError(
                f"Manufacturer {manufacturer!r} matches the vendors "
                f"{', '.join(v.name for v in found)} of '{PARAMS_KEY}' ({PARAMS_FILE}); make "
                "their 'manufacturer' patterns exclusive."
            )
        return found[0] if found else None

    def classify(self, manufacturer: str | None, kernel: str | None) -> str | None:
        """The kernel class, or None when the vendor or the kernel is not in the table."""
        vendor = self.vendor(manufacturer)
        if vendor is None or not kernel:
            return None
        name = first_kernel_value(kernel)
        found = [c for c, patterns in vendor.classes.items() if any(p.fullmatch(name) for p in patterns)]
        if len(found) > 1:
            raise ValueError(
                f"Kernel {name!r} of {vendor.name} matches the classes {', '.join(found)} in "
                f"'{PARAMS_KEY}.{vendor.name}' ({PARAMS_FILE}); a kernel belongs to one class."
            )
        return found[0] if found else None


def _compile(pattern: Any, where: str) -> re.Pattern:
    try:
        return re.compile(str(pattern).strip(), re.IGNORECASE)
    except re.error as err:
        raise ValueError(f"{where} ({PARAMS_FILE}): {pattern!r} is not a regular expression: {err}.") from err
