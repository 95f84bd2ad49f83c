"""What the registry names, and what of it this machine holds: the state of every model and voice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engines.models.registry import Registry, Source
from engines.models.sources import ModelSourceError, is_installed, materialize

State = Literal["installed", "not downloaded", "failed check"]


@dataclass(frozen=True)
class Item:
    name: str
    kind: Literal["transcription", "synthesis", "diarization", "voice"]
    aliases: tuple[str, ...]
    source: str
    """'package', 'hub REPO', 'local PATH', or 'voices' for a synthesis model."""
    state: State
    size_bytes: int
    languages: str
    """Languages a model transcribes, or a voice speaks; for a synthesis model, its voice names."""
    problem: str = ""
    license: str = ""


@dataclass(frozen=True)
class Installed:
    """The names that can be served now."""

    models: frozenset[str]
    voices: frozenset[str]


def installed(registry: Registry, cache_dir: Path) -> Installed:
    """A cheap look at which files are present; loading still checks every sha256."""
    voices = frozenset(n for n, v in registry.voices.items() if is_installed(v.source, n, cache_dir))
    models = set()
    for slug, entry in registry.models.items():
        if entry.source is None:
            if voices:
                models.add(slug)
        elif is_installed(entry.source, slug, cache_dir):
            models.add(slug)
    return Installed(models=frozenset(models), voices=voices)


def inventory(registry: Registry, cache_dir: Path) -> list[Item]:
    """Every model and voice with its state, each installed one checked against its sha256."""
    voices = {name: _checked(v.source, name, cache_dir) for name, v in registry.voices.items()}
    present = {name for name, check in voices.items() if check.state == "installed"}
    items = []
    for slug, entry in registry.models.items():
        if entry.source is None:
            usable = sorted(n for n, m in registry.voice_map.items() if m.choose(present).voice in present)
            state: State = "installed" if usable else "not downloaded"
            spoken = sorted({registry.voice_map[n].choose(present).voice for n in usable})
            names = f"{len(usable)} names on {', '.join(spoken)}" if usable else "-"
            items.append(Item(slug, "synthesis", entry.aliases, "voices", state, 0, names, license=entry.license))
            continue
        check = _checked(entry.source, slug, cache_dir)
        languages = "any" if entry.task == "diarization" else "en" if entry.english_only else "99 languages"
        aliases = (*entry.aliases, *(f"{a} (diarized)" for a in entry.diarizing_aliases))
        kind = _kind(entry.source)
        items.append(
            Item(slug, entry.task, aliases, kind, check.state, check.size, languages, check.problem, entry.license)
        )
    for name, voice in registry.voices.items():
        check = voices[name]
        # The voice's own config says most (a Piper voice's speaker count); the entry speaks for the rest.
        language = voice.language or (_voice_language(check.path) if check.path else "")
        if language in ("", "?"):
            language = voice.speaks or language or "-"
        language = f"{language}, {voice.gender}" if voice.gender else language
        items.append(
            Item(
                name, "voice", (), _kind(voice.source), check.state, check.size, language, check.problem, voice.license
            )
        )
    return items


@dataclass(frozen=True)
class _Check:
    state: State
    size: int = 0
    problem: str = ""
    path: Path | None = None


def _checked(source: Source, name: str, cache_dir: Path) -> _Check:
    if not is_installed(source, name, cache_dir):
        return _Check("not downloaded")
    try:
        path = materialize(source, name, cache_dir)
    except ModelSourceError as exc:
        return _Check("failed check", problem=str(exc))
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.is_file()]
    return _Check("installed", sum(p.resolve().stat().st_size for p in files), path=path)


def _kind(source: Source) -> str:
    if source.files:
        return "package"
    if source.hub is not None:
        return f"hub {source.hub}"
    return "local"


def _voice_language(path: Path) -> str:
    configs = [Path(f"{path}.json")] if path.is_file() else sorted(path.glob("*.onnx.json"))
    try:
        config = json.loads(configs[0].read_text(encoding="utf-8"))
    except (IndexError, OSError, ValueError):
        return "?"
    language = (config.get("language") or {}).get("code") or config.get("espeak", {}).get("voice", "?")
    speakers = int(config.get("num_speakers") or 1)
    return f"{language}, {speakers} speakers" if speakers > 1 else str(language)
