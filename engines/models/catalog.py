"""Names people know, resolved to hub repositories: faster-whisper models and Piper voices."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PIPER_REPO = "rhasspy/piper-voices"
KOKORO_REPO = "onnx-community/Kokoro-82M-v1.0-ONNX"
KOKORO_FILES = ("onnx/model_quantized.onnx", "tokenizer.json")
"""What every Kokoro voice pulled from the ONNX community's repository needs beside its own style file:
the int8 model (92 MB, kept once per voice, so that each voice's folder is whole) and its phoneme ids."""
KOKORO_LANGUAGES = {"a": "en-us", "b": "en-gb", "j": "ja"}
"""Kokoro's voices by the first letter of their names, for the languages that have a front end here."""
WHISPER_SIZES = (
    "tiny",
    "tiny.en",
    "base",
    "base.en",
    "small",
    "small.en",
    "medium",
    "medium.en",
    "large-v1",
    "large-v2",
    "large-v3",
)
DISTIL = ("distil-large-v2", "distil-large-v3", "distil-medium.en", "distil-small.en")
_PIPER_VOICE = re.compile(
    r"^(?P<lang>[a-z]{2,3})_(?P<region>[A-Z]{2})-(?P<speaker>[a-z0-9_]+)-(?P<quality>x_low|low|medium|high)$"
)
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_KOKORO_VOICE = re.compile(r"^kokoro-(?P<style>(?P<lang>[a-z])(?P<gender>[fm])_[a-z]+)$")
# Hub files a CTranslate2 Whisper folder does not need.
_NOT_MODEL_FILES = re.compile(r"(^|/)(README\.md|\.gitattributes|.*\.md)$")


@dataclass(frozen=True)
class PullSpec:
    """What `models pull NAME` fetches, and the registry entry it makes."""

    kind: Literal["model", "voice"]
    name: str
    """The slug (models) or the voice name (voices) in the registry."""
    repo: str
    files: tuple[str, ...] = ()
    """Files in the repository; empty: every model file the repository lists."""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""
    entry: Mapping[str, Any] = field(default_factory=dict)
    """What the registry entry of a voice says beside its source (a Kokoro voice's engine, style, language)."""

    def wanted(self, listed: list[str]) -> list[str]:
        """The files to fetch, given the repository's own listing."""
        if self.files:
            return list(self.files)
        return [name for name in listed if not _NOT_MODEL_FILES.search(name)]


def resolve(name: str) -> PullSpec:
    """`small`, `large-v3`, `distil-large-v3`, `Systran/faster-whisper-small`, any `org/repo` holding a
    CTranslate2 Whisper model, a Piper voice name such as `en_US-amy-medium`, or a Kokoro voice such as
    `kokoro-af_bella`."""
    kokoro = _KOKORO_VOICE.match(name)
    if kokoro:
        return _kokoro(name, kokoro.group("style"), kokoro.group("lang"), kokoro.group("gender"))
    voice = _PIPER_VOICE.match(name)
    if voice:
        lang, region, speaker, quality = voice.group("lang", "region", "speaker", "quality")
        folder = f"{lang}/{lang}_{region}/{speaker}/{quality}"
        return PullSpec(
            kind="voice",
            name=name,
            repo=PIPER_REPO,
            files=(f"{folder}/{name}.onnx", f"{folder}/{name}.onnx.json"),
            description=f"Piper voice {name}",
        )
    short = name.removeprefix("whisper-")
    if short in WHISPER_SIZES:
        return _whisper(f"Systran/faster-whisper-{short}", short)
    if short in DISTIL:
        return _whisper(f"Systran/faster-{short.replace('distil-', 'distil-whisper-')}", short)
    if _REPO.match(name):
        match = re.match(r"^Systran/faster-(distil-)?whisper-(.+)$", name, re.IGNORECASE)
        size = (f"distil-{match.group(2)}" if match.group(1) else match.group(2)) if match else None
        return _whisper(name, size)
    known = ", ".join((*WHISPER_SIZES, *DISTIL))
    raise ValueError(
        f"{name!r} is not a name this server knows: give a Whisper size ({known}), a hub repository "
        "('org/name') holding a CTranslate2 Whisper model, a Piper voice such as en_US-amy-medium, or a Kokoro "
        "voice such as kokoro-af_bella"
    )


def _kokoro(name: str, style: str, letter: str, gender: str) -> PullSpec:
    language = KOKORO_LANGUAGES.get(letter)
    if language is None:
        spoken = ", ".join(f"{code}_ ({tag})" for code, tag in KOKORO_LANGUAGES.items())
        raise ValueError(
            f"{name!r}: this server has no front end for the language of Kokoro's {letter}_ voices; "
            f"it speaks the voices whose names start with {spoken}"
        )
    entry = {
        "engine": "kokoro",
        "style": style,
        "language": language,
        "gender": "female" if gender == "f" else "male",
        "license": "Apache-2.0",
    }
    return PullSpec(
        kind="voice",
        name=name,
        repo=KOKORO_REPO,
        files=(*KOKORO_FILES, f"voices/{style}.bin"),
        description=f"Kokoro-82M voice {style}",
        entry=entry,
    )


def _whisper(repo: str, size: str | None) -> PullSpec:
    aliases = (f"whisper-{size}", size) if size else ()
    return PullSpec(
        kind="model",
        name=repo.lower(),
        repo=repo,
        aliases=tuple(a for a in aliases if a),
        description=f"Whisper {size}" if size else f"Whisper from {repo}",
    )
