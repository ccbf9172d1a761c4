"""The ``agreement`` parameters, checked once, with errors that name the parameter to fix."""

import re
from dataclasses import dataclass
from typing import Any

from .coefficients import COEFFICIENTS
from .study import Condition


@dataclass(frozen=True)
class AgreementParameters:
    """Everything the agreement pipeline is told by ``conf/base/parameters_agreement.yml``."""

    reference: Condition
    threshold: float
    allow_missing_patients: bool
    metrics: tuple[str, ...]
    confidence: float
    n_resamples: int
    seed: int


def agreement_parameters(agreement: dict[str, Any]) -> AgreementParameters:
    """``params:agreement`` as :class:`AgreementParameters`.

    ``metrics`` is a list of names; because ``kedro run --params`` splits its argument at every
    comma, names may also be joined by "+" or spaces (``agreement.metrics=ccc+icc3_1``).
    """
    reference = agreement["reference"]
    bootstrap = agreement["bootstrap"]
    threshold = float(agreement["threshold"])
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"agreement.threshold must be in [-1, 1], got {agreement['threshold']!r}")
    confidence = float(agreement["confidence"])
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"agreement.confidence must be in (0, 1), e.g. 0.95; got {agreement['confidence']!r}"
        )
    return AgreementParameters(
        reference=Condition(str(reference["kernel"]), float(reference["slice_thickness_mm"])),
        threshold=threshold,
        allow_missing_patients=bool(agreement["allow_missing_patients"]),
        metrics=_metrics(agreement["metrics"]),
        confidence=confidence,
        n_resamples=_integer(bootstrap["n_resamples"], "agreement.bootstrap.n_resamples", minimum=1),
        seed=_integer(bootstrap["seed"], "agreement.bootstrap.seed", minimum=0),
    )


def _metrics(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    names = [name for item in items for name in re.split(r"[\s+]+", str(item).strip()) if name]
    allowed = ", ".join(COEFFICIENTS)
    unknown = [name for name in names if name not in COEFFICIENTS]
    if unknown:
        raise ValueError(f"agreement.metrics: unknown {unknown}; allowed: {allowed}.")
    if "ccc" not in names:
        raise ValueError(
            f"agreement.metrics must include ccc, the study's coefficient (got {names}); "
            f"allowed: {allowed}, e.g. [ccc, icc3_1]."
        )
    if len(set(names)) < len(names):
        raise ValueError(f"agreement.metrics lists a coefficient twice: {names}.")
    return tuple(names)


def _integer(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
