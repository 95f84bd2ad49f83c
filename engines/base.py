"""What the server may rely on from an engine: the two engine kinds as protocols, and the neutral types they speak."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engines.text.languages import LANGUAGE_NAMES

LANGUAGES: frozenset[str] = frozenset(LANGUAGE_NAMES)
"""The ISO-639-1 codes a multilingual transcriber takes."""


@dataclass(frozen=True)
class Placement:
    """Where a model runs: `cpu` or `cuda`, and the compute type its weights are used in."""

    device: str
    compute_type: str


# ------------------------------------------------------------------ transcription


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    """Who spoke it, where a step after transcription tells speakers apart; None otherwise."""


@dataclass(frozen=True)
class TranscriptionOptions:
    language: str | None = None
    """ISO-639-1 code; None detects it."""
    task: str = "transcribe"
    """'transcribe', or 'translate' (into English)."""
    temperature: float = 0.0
    """The first temperature tried; decoding falls back to hotter ones when it fails."""
    prompt: str | None = None
    word_timestamps: bool = False
    vad_filter: bool = False
    """Skip non-speech before decoding (timestamps still refer to the original audio)."""
    drop_non_speech: bool = True
    """Return nothing for audio with no speech, and drop segments that Whisper itself doubts."""
    sentence_segments: bool = False
    """Cut the transcript into segments at sentences and pauses (verbose_json, subtitles); batched
    decoding then times the words to find them."""
    condition_on_previous_text: bool = False
    """Decode in order, each window prompted with the text before it (Whisper's sequential mode),
    instead of in batches of independent chunks."""
    background: bool = False
    """Work no one is waiting on (a job's next window): an engine that queues work serves every
    other request's first."""


@dataclass(frozen=True)
class TranscriptInfo:
    language: str
    language_probability: float
    duration: float


def full_text(segments: Sequence[Segment]) -> str:
    """Whisper starts each segment with its own space; the whole text is their concatenation."""
    return "".join(s.text for s in segments).strip()


class Transcriber(Protocol):
    """Speech to text: 16 kHz mono float32 samples and options in, segments out."""

    @property
    def multilingual(self) -> bool:
        """Whether it takes languages other than English (and translates)."""
        ...

    def stream(self, audio: np.ndarray, options: TranscriptionOptions) -> tuple[TranscriptInfo, Iterator[Segment]]:
        """Start transcribing. The segments come lazily: iterate them once, in one worker thread;
        closing the iterator (where it is a generator) stops the work behind it."""
        ...


# ------------------------------------------------------------------ diarization


@dataclass(frozen=True)
class KnownSpeaker:
    """A speaker to recognise by name, by a voice print: of a clip of their voice (`Diarizer.voiceprint`),
    or one a diarization gave them before (the same person in another window of a long recording)."""

    name: str
    voice: np.ndarray


@dataclass(frozen=True)
class DiarizationOptions:
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    known: tuple[KnownSpeaker, ...] = ()


@dataclass(frozen=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Diarization:
    turns: list[SpeakerTurn]
    """In time order; turns of two speakers overlap where both speak."""
    voices: dict[str, np.ndarray]
    """Each speaker's voice print, to recognise them again (see `KnownSpeaker.voice`)."""


class Diarizer(Protocol):
    """Who spoke when: 16 kHz mono float32 audio in, speaker turns out. Speakers are named after the
    known speakers they match, and `A`, `B`, … (the next letters free) in order of first appearance."""

    def diarize(self, audio: np.ndarray, options: DiarizationOptions) -> Diarization: ...

    def voiceprint(self, audio: np.ndarray) -> np.ndarray:
        """A clip of one person's speech (16 kHz mono float32) as a voice print to know them by."""
        ...


# ------------------------------------------------------------------ synthesis


@dataclass(frozen=True)
class SpeechSettings:
    """How a voice speaks a request; None leaves each to the voice's own default."""

    speaker_id: int | None = None
    length_scale: float | None = None
    """Phoneme length (> 1 is slower); divided by the request's speed."""
    noise_scale: float | None = None
    """Variation in the voice; an engine without such a knob ignores it."""
    noise_w_scale: float | None = None
    """Variation in phoneme lengths; an engine without such a knob ignores it."""


@dataclass(frozen=True)
class Pauses:
    sentence_s: float = 0.2
    """Silence after a sentence."""
    paragraph_s: float = 0.6
    """Silence after the last sentence of a paragraph (text followed by a blank line)."""


@dataclass(frozen=True)
class Piece:
    """What is rendered in one go: a sentence, or the first clause of a long first sentence."""

    units: list[str]
    """What the engine made of the text (Piper: phonemes); only that engine reads them."""
    pause_after_s: float


@dataclass(frozen=True)
class VoiceInfo:
    """What a surface may tell about a loaded voice."""

    engine: str
    language: str
    """BCP 47, lower case: en-us, de, ja."""
    sample_rate: int
    speakers: Mapping[str, int] = field(default_factory=dict)
    """Named speakers of a multi-speaker voice, by their ids."""
    num_speakers: int = 1
    made_by: str = ""
    """Who made the engine, to credit where voices are listed (the engine's name when empty)."""
    url: str = ""
    """Where the engine comes from."""


class Synthesizer(Protocol):
    """Text to speech, sentence by sentence: pieces are planned first (where every error shows),
    then each is rendered to float32 samples at the voice's rate."""

    @property
    def info(self) -> VoiceInfo: ...

    def pieces(self, text: str, pauses: Pauses | None = None, quick_start: bool = True) -> list[Piece]:
        """The text's sentences, each with the silence after it; with `quick_start`, a long first
        sentence is split at its first clause break, so that the first audio comes sooner."""
        ...

    def render(self, units: list[str], settings: SpeechSettings, speed: float = 1.0) -> np.ndarray:
        """One piece, `speed` times faster at the same pitch, at the common speech level."""
        ...
