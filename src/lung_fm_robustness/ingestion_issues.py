"""Problems found while registering scans: one row each, with what ingestion does about it.

With ``ingestion.on_error: raise`` (the default) any problem stops ingestion with all of them
listed; with ``skip`` the affected files, series, scans, nodules or patients are left out.
Series that are not part of the study (another modality or slice thickness, a localizer) and
patients without a listed nodule are only reported. Every issue is a row of
``data/08_reporting/ingestion_issues.csv``: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

ISSUE_COLUMNS = ("patient_id", "scan_id", "location", "rule", "message", "action")
ON_ERROR = ("raise", "skip")
# Problems: ingestion stops (on_error: raise) or leaves out what the action names (skip).
SKIP_FILE = "skip file"
SKIP_SERIES = "skip series"
SKIP_SCAN = "skip scan"
SKIP_PATIENT = "skip patient"
SKIP_NODULE = "skip nodule"
# Reported only, whatever on_error says.
IGNORE_SERIES = "ignore series"  # not one of the study's reconstructions (MR, localizer, 5 mm...)
IGNORE_PATIENT = "ignore patient"  # series but no nodule listed: not part of the analysis
KEEP = "keep"  # used as it is (agreement.allow_missing_patients)
REPORTED_ONLY = (IGNORE_SERIES, IGNORE_PATIENT, KEEP)
_SHOWN_PER_RULE = 10


class IngestionError(ValueError):
    """Scans that cannot be used as they are; the message lists every problem and its fix."""


@dataclass(frozen=True)
class Issue:
    """One problem: which rule, where (file, CSV line or series), and the action taken."""

    rule: str
    message: str
    action: str
    location: str
    patient_id: str | None = None
    scan_id: str | None = None


def issue_table(issues: Iterable[Issue]) -> pd.DataFrame:
    """The issues as the report's rows, in the order found."""
    return pd.DataFrame([asdict(i) for i in issues], columns=list(ISSUE_COLUMNS))


def check_on_error(ingestion: dict) -> str:
    """``ingestion.on_error``; anything else is an error listing the choices."""
    value = ingestion.get("on_error", "raise")
    if value not in ON_ERROR:
        raise ValueError(f"ingestion.on_error must be one of {', '.join(ON_ERROR)}, got {value!r}.")
    return value


def raise_on_issues(issues: list[Issue], on_error: str, report: str) -> None:
    """With ``on_error: raise``, stop on any issue that is not only reported."""
    blocking = [i for i in issues if i.action not in REPORTED_ONLY]
    if on_error == "skip" or not blocking:
        return
    raise IngestionError(
        f"Ingestion found {len(blocking)} problem(s):\n{describe_issues(blocking)}\n"
        "Fix them, or set ingestion.on_error=skip to leave what they affect out (each is then "
        f"listed in {report})."
    )


def describe_issues(issues: list[Issue]) -> str:
    """Issues grouped by rule; a message repeated for several places is shown once, with an
    example place and the count."""
    lines = []
    for rule in dict.fromkeys(i.rule for i in issues):
        same = [i for i in issues if i.rule == rule]
        places: dict[str, list[str]] = {}
        for issue in same:
            places.setdefault(issue.message, []).append(issue.location)
        lines.append(f"[{rule}] {len(same)}:")
        for message, where in list(places.items())[:_SHOWN_PER_RULE]:
            more = f"; and {len(where) - 1} more" if len(where) > 1 else ""
            lines.append(f"  - {message} ({where[0]}{more})")
        if len(places) > _SHOWN_PER_RULE:
            lines.append(f"  - and {len(places) - _SHOWN_PER_RULE} more")
    return "\n".join(lines)
