"""The process locale, kept across SimpleITK's GDCM (DICOM) I/O.

GDCM switches ``LC_ALL`` to "C" to parse DICOM decimal strings; writing a slice with its
ImagePositionPatient (SimpleITK 2.5) leaves the process there. Every later ``open()`` in
text mode then defaults to ASCII, and writing "≥" (the study table) fails far from the
cause. Its readers have not been seen to do it, but they share that code, so every DICOM
read or write of this project runs inside :func:`keep_locale`.
"""

from __future__ import annotations

import locale
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_locale() -> Iterator[None]:
    """Run the block, then restore the process locale (all categories) as it was before."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        locale.setlocale(locale.LC_ALL, saved)
