"""Small fake engines and an in-thread server: the whole HTTP contract, fast, with no model packages.

The fakes stand in for Whisper and Piper behind the loader's `EngineFactory` seam; decoding,
encoding, parsing, admission and rendering stay real. A `Gate` lets a test hold the engines'
work at a point it controls, so that ordering never depends on sleeping.
"""

from __future__ import annotations

import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import uvicorn

from engines.audio.decode import WHISPER_RATE
from engines.base import (
    Diarization,
    DiarizationOptions,
    Pauses,
    Piece,
    Placement,
    Segment,
    SpeakerTurn,
    SpeechSettings,
    TranscriptInfo,
    TranscriptionOptions,
    VoiceInfo,
    Word,
)
from engines.loader import EngineFactory
from engines.models.inventory import Installed
from engines.models.registry import ModelEntry, Registry, Source, VoiceEntry
from server.app import create_app
from server.config import Settings
from server.protocol import guarded_protocol
from server.testing import ThreadedServer, serve_in_thread
from server.testing import free_port as free_port  # re-exported: tests import it from here

# Every httpx.Client builds a TLS context and loads the CA bundle (~20 ms), even for plain http on
# loopback; the tests' clients share this one instead.
LOOPBACK_TLS = ssl.create_default_context()


class Gate:
    """Work passes while the gate is open; when it is closed, workers wait at it, counted."""

    def __init__(self) -> None:
        self._open = True
        self._allowed = 0
        self._waiting = 0
        self.passed = 0
        self._changed = threading.Condition()

    def close(self) -> None:
        with self._changed:
            self._open = False
            self._allowed = 0

    def open(self) -> None:
        with self._changed:
            self._open = True
            self._changed.notify_all()

    def allow(self, count: int = 1) -> None:
        """Let `count` more steps through while the gate stays closed."""
        with self._changed:
            self._allowed += count
            self._changed.notify_all()

    def passing(self) -> None:
        """Called by the fake engines before each step of their work."""
        with self._changed:
            self._waiting += 1
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._open or self._allowed > 0, timeout=60)
            if not self._open and self._allowed > 0:
                self._allowed -= 1
            self._waiting -= 1
            self.passed += 1
            self._changed.notify_all()

    def wait_for_waiting(self, count: int, timeout: float = 10) -> None:
        """Block until `count` workers are held at the gate."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._waiting >= count, timeout=timeout):
                raise AssertionError(f"{self._waiting} workers at the gate, expected {count}")

    def step_until(self, finished: Callable[[], bool], limit: int = 50) -> int:
        """Let one step through at a time until `finished()`; each step waits for the worker to come
        back to the gate or to finish, so the count shows how far work went. Returns the steps."""
        for steps in range(limit):
            if finished():
                return steps
            with self._changed:
                self._allowed += 1
                self._changed.notify_all()
                # A worker that finishes leaves without a word, so `finished()` is asked again every 20 ms.
                deadline = time.monotonic() + 5
                while not ((self._allowed == 0 and self._waiting > 0) or finished()):
                    if time.monotonic() > deadline:
                        break
                    self._changed.wait(0.02)
        raise AssertionError(f"work still going after {limit} steps")


FAKE_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


@dataclass
class FakeTranscriber:
    """One segment of two words per second of audio, and none for silence."""

    multilingual: bool
    gate: Gate
    fail: bool = False
    """Raise an unexpected error, as a bug in an engine would."""
    readings: list[float] = field(default_factory=list)
    """The length of every audio it was given, in seconds."""

    def stream(self, audio: np.ndarray, options: TranscriptionOptions) -> tuple[TranscriptInfo, Iterator[Segment]]:
        if self.fail:
            raise RuntimeError("an engine bug")
        duration = round(len(audio) / WHISPER_RATE, 3)
        self.readings.append(duration)
        info = TranscriptInfo(language=options.language or "en", language_probability=0.99, duration=duration)
        silent = float(np.max(np.abs(audio))) < 1e-4 if audio.size else True
        count = 0 if silent else math.ceil(duration)

        def segments() -> Iterator[Segment]:
            for index in range(count):
                self.gate.passing()
                start, end = float(index), min(float(index + 1), duration)
                first, second = FAKE_WORDS[(2 * index) % 8], FAKE_WORDS[(2 * index + 1) % 8]
                middle = round((start + end) / 2, 3)
                words = (
                    Word(start=start, end=middle, word=f" {first}", probability=0.9),
                    Word(start=middle, end=end, word=f" {second}", probability=0.9),
                )
                yield Segment(
                    id=index,
                    seek=int(start * 100),
                    start=start,
                    end=end,
                    text=f" {first} {second}.",
                    tokens=(1, 2, 3),
                    temperature=options.temperature,
                    avg_logprob=-0.2,
                    compression_ratio=1.1,
                    no_speech_prob=0.01,
                    words=words if options.word_timestamps else (),
                )

        return info, segments()


FRAME_S = 0.25


def pitch(audio: np.ndarray) -> float:
    """The strongest frequency of a stretch of 16 kHz audio, to the nearest 10 Hz (0: silence)."""
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-3:
        return 0.0
    spectrum = np.abs(np.fft.rfft(audio))
    return round(float(np.fft.rfftfreq(len(audio), 1 / WHISPER_RATE)[int(np.argmax(spectrum))]), -1)


@dataclass
class FakeDiarizer:
    """Every tone is a speaker: a quarter second's strongest frequency is who speaks in it. Voice
    prints are that frequency, so a known speaker is a clip of the same tone."""

    gate: Gate
    heard: list[DiarizationOptions] = field(default_factory=list)

    def diarize(self, audio: np.ndarray, options: DiarizationOptions) -> Diarization:
        self.gate.passing()
        self.heard.append(options)
        step = int(FRAME_S * WHISPER_RATE)
        pitches = [pitch(audio[i : i + step]) for i in range(0, len(audio), step)]
        names: dict[float, str] = {}
        known = {float(k.voice[0]): k.name for k in options.known}
        letters = iter(n for n in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if n not in known.values())
        turns: list[SpeakerTurn] = []
        for index, hz in enumerate(pitches):
            if not hz:
                continue
            if hz not in names:
                names[hz] = known.get(hz) or next(letters)
            name = names[hz]
            start, end = index * FRAME_S, min((index + 1) * FRAME_S, len(audio) / WHISPER_RATE)
            if turns and turns[-1].speaker == name and turns[-1].end == start:
                turns[-1] = SpeakerTurn(turns[-1].start, end, name)
            else:
                turns.append(SpeakerTurn(start, end, name))
        return Diarization(turns=turns, voices={name: np.array([hz]) for hz, name in names.items()})

    def voiceprint(self, audio: np.ndarray) -> np.ndarray:
        return np.array([pitch(audio)])


@dataclass
class FakeSynthesizer:
    """A tone per sentence, 50 ms per character divided by the speed, at Piper's 22.05 kHz."""

    gate: Gate
    sample_rate: int = 22050
    num_speakers: int = 1
    language: str = "en-us"

    @property
    def info(self) -> VoiceInfo:
        return VoiceInfo(
            engine="fake", language=self.language, sample_rate=self.sample_rate, num_speakers=self.num_speakers
        )

    def pieces(self, text: str, pauses: Pauses | None = None, quick_start: bool = True) -> list[Piece]:
        """A sentence per piece, with no pauses, so that lengths add up simply."""
        return [Piece(list(s.strip()), 0.0) for s in re.split(r"(?<=[.!?])\s+", text) if re.search(r"\w", s)]

    def render(self, units: list[str], settings: SpeechSettings, speed: float = 1.0) -> np.ndarray:
        self.gate.passing()
        samples = int(0.05 * len(units) / speed * self.sample_rate)
        t = np.arange(samples) / self.sample_rate
        return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@dataclass
class FakeEngines:
    """The `EngineFactory` the fast layer hands to `create_app`."""

    gate: Gate = field(default_factory=Gate)
    broken: frozenset[str] = frozenset()
    """Model slugs or voice names whose loading fails."""
    loads: list[str] = field(default_factory=list)
    absent: frozenset[str] = frozenset()
    """Model slugs or voice names that are not installed."""
    speakers: dict[str, int] = field(default_factory=dict)
    """Voice name -> number of speakers, for multi-speaker voices (1 otherwise)."""
    failing: bool = False
    """Transcribers that raise an unexpected error."""
    readings: list[float] = field(default_factory=list)
    """What every transcriber was given to read, in seconds of audio."""
    diarizing: FakeDiarizer = field(init=False)
    """The one diarizer, with what it was asked."""

    def __post_init__(self) -> None:
        self.diarizing = FakeDiarizer(self.gate)

    def transcriber(self, entry: ModelEntry, placement: Placement) -> FakeTranscriber:
        self._load(entry.slug)
        return FakeTranscriber(
            multilingual=not entry.slug.endswith(".en"), gate=self.gate, fail=self.failing, readings=self.readings
        )

    def diarizer(self, entry: ModelEntry, placement: Placement) -> FakeDiarizer:
        self._load(entry.slug)
        return self.diarizing

    def synthesizer(self, voice: VoiceEntry, use_cuda: bool) -> FakeSynthesizer:
        self._load(voice.name)
        language = voice.speaks or "en-us"
        return FakeSynthesizer(gate=self.gate, num_speakers=self.speakers.get(voice.name, 1), language=language)

    def installed(self, registry: Registry) -> Installed:
        """Everything but the hub entries (never downloaded here) and the `absent` ones."""

        def present(name: str, source: Source | None) -> bool:
            return name not in self.absent and (source is None or source.hub is None)

        voices = frozenset(n for n, v in registry.voices.items() if present(n, v.source))
        models = frozenset(s for s, e in registry.models.items() if present(s, e.source))
        return Installed(models=models, voices=voices)

    def _load(self, name: str) -> None:
        self.gate.passing()
        if name in self.broken:
            raise RuntimeError(f"cannot load {name}")
        self.loads.append(name)


@dataclass
class FastServer(ThreadedServer):
    """The real app on fake engines, served by uvicorn on loopback from a thread."""

    engines: FakeEngines = field(default_factory=FakeEngines)

    def stop(self, wait: bool = True) -> None:
        """As a threaded server stops, with the gate opened so that no work is left waiting at it."""
        self.engines.gate.open()
        super().stop(wait)


def app_config(settings: Settings, engines: EngineFactory) -> uvicorn.Config:
    """The app on `engines`, as `python -m server serve` runs it (the same keep-alive and header
    deadlines), on a free loopback port."""
    return uvicorn.Config(
        create_app(settings, engines=engines),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=math.ceil(settings.keep_alive_s),
        http=guarded_protocol(settings.header_timeout_s),
        ws_ping_interval=settings.ws_ping_s,
        ws_ping_timeout=settings.ws_ping_s,
    )


def start_fast_server(settings: Settings, engines: FakeEngines | None = None) -> FastServer:
    engines = engines or FakeEngines()
    served = serve_in_thread(app_config(settings, engines))
    return FastServer(url=served.url, server=served.server, thread=served.thread, engines=engines)
