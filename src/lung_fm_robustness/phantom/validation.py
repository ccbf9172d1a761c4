"""Checks of the ``ingestion.phantom`` parameters whose errors name the offending key.

A wrong YAML value should fail at once with the full parameter path and the value read,
not deep inside the simulation with a numpy message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

PARAMS_PATH = "ingestion.phantom"


def _where(name: str) -> str:
    return f"{PARAMS_PATH}.{name}" if name else PARAMS_PATH


def mapping(value: Any, name: str) -> Mapping[str, Any]:
    """``value`` as a mapping with string keys."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{_where(name)} must be a mapping with string keys, got {value!r}")
    return value


def known_keys(params: Mapping[str, Any], allowed: tuple[str, ...], name: str) -> None:
    """Reject keys outside ``allowed`` (typos would otherwise be silently ignored)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"{_where(name)} has unknown parameters {unknown}; known: {', '.join(allowed)}"
        )


def required(params: Mapping[str, Any], key: str, name: str) -> Any:
    """``params[key]``; a missing key is an error naming ``name.key``."""
    if key not in params:
        raise ValueError(f"{_where(f'{name}.{key}' if name else key)} is missing")
    return params[key]


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(f"{_where(name)} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{_where(name)} must be a non-negative integer, got {value!r}")
    return int(value)


def real(
    value: Any,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
) -> float:
    """A finite number in ``[low, high]`` (``(low, high]`` without ``low_inclusive``)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and value <= high
    if not ok:
        bracket = "[" if low_inclusive else "("
        raise ValueError(
            f"{_where(name)} must be a finite number in {bracket}{low}, {high}], got {value!r}"
        )
    return float(value)


def positive(value: Any, name: str) -> float:
    return real(value, name, 0.0, math.inf, low_inclusive=False)


def unique_list(value: Any, name: str, item: str) -> list[Any]:
    """A non-empty list without repeats (YAML sequence); ``item`` describes its elements."""
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{_where(name)} must be a non-empty list of {item}, got {value!r}")
    values = list(value)
    if not values:
        raise ValueError(f"{_where(name)} must be a non-empty list of {item}, got []")
    if len(set(values)) != len(values):
        raise ValueError(f"{_where(name)} has repeated entries: {values!r}")
    return values


def probabilities(value: Any, name: str, allowed: tuple[str, ...]) -> dict[str, float]:
    """Category probabilities over ``allowed`` (absent categories get 0) summing to 1."""
    table = mapping(value, name)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(
            f"{_where(name)} has unknown categories {unknown}; allowed: {', '.join(allowed)}"
        )
    probs = {k: real(table.get(k, 0.0), f"{name}.{k}", 0.0, 1.0) for k in allowed}
    if abs(sum(probs.values()) - 1.0) > 1e-6:
        raise ValueError(f"{_where(name)} must sum to 1, got {sum(probs.values()):.6g}")
    return probs
