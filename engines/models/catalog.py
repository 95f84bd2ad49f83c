"""Names people know, resolved to hub repositories: faster-whisper models and Piper voices."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

PIPER_REPO = "rhasspy/piper-voices"
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

    def wanted(self, listed: list[str]) -> list[str]:
        """The files to fetch, given the repository's own listing."""
        if self.files:
            return list(self.files)
        return [name for name in listed if not _NOT_MODEL_FILES.search(name)]


def resolve(name: str) -> PullSpec:
    """`small`, `large-v3`, `distil-large-v3`, `Systran/faster-whisper-small`, any `org/repo` holding a
    CTranslate2 Whisper model, or a Piper voice name such as `en_US-amy-medium`."""
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
        "('org/name') holding a CTranslate2 Whisper model, or a Piper voice such as en_US-amy-medium"
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
