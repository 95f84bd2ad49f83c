"""Reading the registry from disk: `models.toml`, with the fragments laid over it, into one document."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engines.models.registry import Registry, RegistryError, parse_registry


def load_registry(path: Path, overlays: Sequence[Path] = ()) -> Registry:
    """`path`, with the `*.toml` fragments of each folder in `overlays` laid over it in name order."""
    document, origin = load_document(path, overlays)
    try:
        return parse_registry(document, base_dir=path.parent)
    except RegistryError as exc:
        # Name the file the offending entry came from: the base file or a fragment.
        where = next((file for key, file in origin.items() if str(exc).startswith(key)), path)
        raise RegistryError(f"{where}: {exc}") from None


OVERLAID = ("models", "voices", "voice_map")
"""The tables a fragment may add entries to; an entry it names replaces the base file's whole."""


def load_document(path: Path, overlays: Sequence[Path] = ()) -> tuple[dict[str, Any], dict[str, Path]]:
    """The merged TOML document, and for each overlaid entry (`models.SLUG`) the fragment it came from.

    Relative source paths in a fragment are made absolute against the fragment's own folder."""
    document = _read_toml(path)
    origin: dict[str, Path] = {}
    for folder in overlays:
        for fragment in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            raw = _read_toml(fragment)
            for name in raw:
                if name not in OVERLAID:
                    raise RegistryError(f"{fragment}: {name}: a fragment may only add {', '.join(OVERLAID)}")
            for table in OVERLAID:
                entries = raw.get(table, {})
                if not isinstance(entries, dict):
                    raise RegistryError(f"{fragment}: {table}: expected a table")
                for key, body in entries.items():
                    document.setdefault(table, {})[key] = _absolute_paths(body, fragment.parent)
                    origin[f"{table}.{key}"] = fragment
    return document, origin


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from exc


def _absolute_paths(body: Any, folder: Path) -> Any:
    source = body.get("source") if isinstance(body, dict) else None
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        path = Path(source["path"]).expanduser()
        body = {**body, "source": {**source, "path": str(path if path.is_absolute() else folder / path)}}
    return body
