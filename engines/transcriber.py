"""faster-whisper behind a small interface: numpy audio and options in, dataclasses out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment as FwSegment
from faster_whisper.transcribe import TranscriptionInfo as FwInfo
from faster_whisper.vad import VadOptions, get_speech_timestamps

from engines.audio_decode import WHISPER_RATE
from engines.languages import LANGUAGE_NAMES

LANGUAGES: frozenset[str] = frozenset(LANGUAGE_NAMES)
WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


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
    """Return nothing for audio with no speech, and drop segments that lie outside speech."""


@dataclass(frozen=True)
class TranscriptInfo:
    language: str
    language_probability: float
    duration: float


def full_text(segments: Sequence[Segment]) -> str:
    """Whisper starts each segment with its own space; the whole text is their concatenation."""
    return "".join(s.text for s in segments).strip()


@dataclass
class Transcriber:
    model: WhisperModel
    beam_size: int = 5

    @classmethod
    def load(cls, path: Path, device: str, compute_type: str, beam_size: int = 5) -> Transcriber:
        model = WhisperModel(str(path), device=device, compute_type=compute_type, local_files_only=True)
        return cls(model=model, beam_size=beam_size)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def stream(self, audio: np.ndarray, options: TranscriptionOptions) -> tuple[TranscriptInfo, Iterator[Segment]]:
        """Start decoding; segments come lazily, so iterate them once, in the worker thread.

        Audio longer than WINDOW_SECONDS is decoded window by window, cut at pauses, so
        faster-whisper's features (which it computes for all of its input at once) stay
        bounded; each window is prompted with the text before it.
        """
        duration = round(len(audio) / WHISPER_RATE, 3)
        speech: list[tuple[float, float]] | None = None
        if options.drop_non_speech or duration > WINDOW_SECONDS:
            # Whisper invents "Thank you." on music and noise; Silero VAD (about 1/400 of real
            # time) tells whether there is any speech at all, and where.
            speech = speech_regions(audio)
            if not speech and options.drop_non_speech:
                info = TranscriptInfo(language=options.language or "en", language_probability=0.0, duration=duration)
                return info, iter(())
        windows = _windows(duration, speech or [])
        first, info = self._window(audio, windows[0], options, options.language, options.prompt)

        def segments() -> Iterator[FwSegment]:
            text = ""
            for index, window in enumerate(windows):
                pieces = first if index == 0 else self._window(audio, window, options, info.language, text)[0]
                for piece in pieces:
                    text = piece.text
                    if not options.drop_non_speech or _is_speech(piece, speech or []):
                        yield piece

        transcript_info = TranscriptInfo(
            language=info.language, language_probability=float(info.language_probability), duration=duration
        )
        return transcript_info, (_segment(i, s) for i, s in enumerate(segments()))

    def _window(
        self,
        audio: np.ndarray,
        window: tuple[float, float],
        options: TranscriptionOptions,
        language: str | None,
        prompt: str | None,
    ) -> tuple[Iterator[FwSegment], FwInfo]:
        start, end = window
        pieces, info = self.model.transcribe(
            audio[int(start * WHISPER_RATE) : int(end * WHISPER_RATE)],
            language=language,
            task=options.task,
            beam_size=self.beam_size,
            temperature=_fallback_temperatures(options.temperature),
            initial_prompt=prompt or None,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
            condition_on_previous_text=True,
        )
        return (_shift(piece, start) for piece in pieces), info


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """Seconds of the audio where Silero VAD hears speech (padded, as faster-whisper pads them).

    The VAD copies its whole input a few times over, so long audio goes through it a window
    at a time; regions that the window edges split are joined again.
    """
    step = int(WINDOW_SECONDS * WHISPER_RATE)
    regions: list[tuple[float, float]] = []
    for offset in range(0, len(audio), step):
        for r in get_speech_timestamps(audio[offset : offset + step], VadOptions()):
            start, end = (offset + r["start"]) / WHISPER_RATE, (offset + r["end"]) / WHISPER_RATE
            if regions and start - regions[-1][1] < 0.1:
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
    return regions


def _windows(duration: float, speech: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cut `duration` seconds into windows of at most ~WINDOW_SECONDS, at pauses between speech."""
    cuts = [0.0]
    pauses = [(a_end + b_start) / 2 for (_, a_end), (b_start, _) in itertools.pairwise(speech)]
    while duration - cuts[-1] > WINDOW_SECONDS * 1.2:
        target = cuts[-1] + WINDOW_SECONDS
        near = [p for p in pauses if cuts[-1] + WINDOW_SECONDS / 2 < p <= target]
        cuts.append(max(near) if near else target)
    return list(itertools.pairwise([*cuts, duration]))


def _shift(segment: FwSegment, offset: float) -> FwSegment:
    if not offset:
        return segment
    words = [replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words or []]
    return replace(
        segment,
        start=segment.start + offset,
        end=segment.end + offset,
        seek=segment.seek + int(offset * 100),
        words=words or segment.words,
    )


def _is_speech(segment: FwSegment, speech: list[tuple[float, float]]) -> bool:
    """Keep a segment unless almost none of it overlaps speech, or Whisper itself doubts it."""
    length = max(segment.end - segment.start, 1e-3)
    overlap = sum(max(0.0, min(segment.end, end) - max(segment.start, start)) for start, end in speech)
    doubtful = segment.no_speech_prob > 0.6 and segment.avg_logprob < -1.0
    return overlap / length >= 0.1 and not doubtful


def _fallback_temperatures(first: float) -> tuple[float, ...]:
    # The hosted API treats the given temperature as a starting point and raises it
    # when decoding fails its compression/log-probability checks.
    steps = [first]
    while steps[-1] + 0.2 <= 1.0 + 1e-9:
        steps.append(round(steps[-1] + 0.2, 2))
    return tuple(steps)


def _segment(index: int, s: FwSegment) -> Segment:
    words = tuple(
        Word(start=round(w.start, 3), end=round(w.end, 3), word=w.word, probability=round(w.probability, 4))
        for w in (s.words or ())
    )
    return Segment(
        id=index,
        seek=int(s.seek),
        start=round(float(s.start), 3),
        end=round(float(s.end), 3),
        text=s.text,
        tokens=tuple(s.tokens),
        temperature=float(s.temperature or 0.0),
        avg_logprob=float(s.avg_logprob),
        compression_ratio=float(s.compression_ratio),
        no_speech_prob=float(s.no_speech_prob),
        words=words,
    )
