"""What the surfaces ask of the core, and what the core hands back to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from engines.audio.encode import AudioFormat
from engines.base import Diarization, KnownSpeaker, Segment, TranscriptInfo, TranscriptionOptions


@dataclass(frozen=True)
class Samples:
    """Audio a front door already holds as samples (Wyoming, a live microphone), handed over with no
    container around it: one channel or channels last, floats in [-1, 1] or integer PCM, at `rate`."""

    audio: np.ndarray
    rate: int


@dataclass(frozen=True)
class DiarizeRequest:
    """Tell the speakers apart: how many there are, if known, and clips of the ones to name."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    references: tuple[tuple[str, bytes], ...] = ()
    """(name, a clip of their voice in any format PyAV reads)."""
    known: tuple[KnownSpeaker, ...] = ()
    """Speakers already known by their voice prints (a long recording's earlier windows)."""
    whole_limit_s: float | None = None
    """Longer audio needs a chunking strategy (OpenAI's diarize model asks for one past 30 s)."""
    heard: Callable[[Diarization], None] | None = None
    """Told who spoke when, once the audio is diarized (a job keeps the voices for its next window)."""


@dataclass(frozen=True)
class TranscribeRequest:
    model: str
    audio: BinaryIO | Samples
    """An uploaded file in any container PyAV reads, or samples."""
    options: TranscriptionOptions
    diarization: DiarizeRequest | None = None


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = 1.0
    stream_format: str = "audio"
    """'audio' sends the encoded bytes; 'sse' wraps them in speech.audio.delta events."""
    normalize: bool | None = None
    """Spell out markup, links, numbers and symbols before speaking; None takes the server's default."""
    read_emoji: bool = False
    """Read emoji by their names instead of leaving them out."""
    speaker: str | None = None
    """A speaker of a multi-speaker voice, by name or number (Wyoming asks for them so)."""
    language: str | None = None
    """The language to speak (ISO 639-1 or BCP 47): a voice that speaks another moves to one that speaks it."""


@dataclass(frozen=True)
class Speech:
    format: AudioFormat
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class TranscriptStream:
    info: TranscriptInfo
    segments: AsyncIterator[Segment]
