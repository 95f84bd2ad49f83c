"""Typed values read out of a parsed TOML table, each mistake a RegistryError that names its key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RegistryError(ValueError):
    """models.toml is malformed; the message names the offending key."""


_MISSING = object()


def get(body: Mapping[str, Any], name: str, kind: Any, key: str, default: Any = _MISSING) -> Any:
    if name not in body:
        if default is _MISSING:
            raise RegistryError(f"{key}.{name}: required")
        return default
    value = body[name]
    # bool is an int in Python; a `true` where a number belongs is a mistake.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RegistryError(f"{key}.{name}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def positive(body: Mapping[str, Any], name: str, key: str) -> float | None:
    value = get(body, name, (int, float), key, None)
    if value is not None and value <= 0:
        raise RegistryError(f"{key}.{name}: must be positive")
    return None if value is None else float(value)


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def table(raw: Mapping[str, Any], name: str, key: str) -> Mapping[str, Any]:
    return as_table(raw.get(name, {}), key)


def as_table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RegistryError(f"{key}: expected a table")
    return value


def only_keys(body: Mapping[str, Any], key: str, allowed: set[str]) -> None:
    for name in body:
        if name not in allowed:
            where = f"{key}.{name}" if key else name
            raise RegistryError(f"{where}: unknown key (expected one of {', '.join(sorted(allowed))})")
