"""Load each model once, on first use or at start-up, and share it; unload idle ones."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, cast

from engines.base import Diarizer, Placement, Synthesizer, Transcriber
from engines.models.inventory import Installed, installed
from engines.models.registry import ModelEntry, Registry, VoiceEntry
from engines.models.sources import materialize
from engines.whisper import policy as whisper_policy

log = logging.getLogger(__name__)
T = TypeVar("T")


def cuda_available() -> bool:
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count()) > 0
    except Exception:
        return False


def onnx_cuda_available() -> bool:
    try:
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except Exception:
        return False


def place(entry: ModelEntry, has_cuda: bool) -> Placement:
    """Pure: where a model runs. `auto` means CUDA/float16 with a GPU, else CPU/int8."""
    device = entry.device if entry.device != "auto" else ("cuda" if has_cuda else "cpu")
    compute_type = entry.compute_type
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return Placement(device=device, compute_type=compute_type)


# ------------------------------------------------------------------ the engines, by the registry's `engine` key
#
# Each entry imports its engine only when a model of that engine loads: the server can render a
# transcript or list voices without faster-whisper or onnxruntime in memory.

TranscriberMaker = Callable[[Path, ModelEntry, Placement], Transcriber]
SynthesizerMaker = Callable[[Path, VoiceEntry, bool], Synthesizer]
DiarizerMaker = Callable[[Path, ModelEntry, Placement], Diarizer]


@dataclass(frozen=True)
class TranscriptionEngine:
    """A transcription engine's entry: how a model of it loads, and how many requests keep it busy."""

    load: TranscriberMaker
    requests_at_once: Callable[[ModelEntry, Placement, int], int] | None = None
    """Pure: requests at once for a model on its placement, given the CPU count; None is one per core."""


def _whisper(path: Path, entry: ModelEntry, placement: Placement) -> Transcriber:
    from engines.whisper.transcriber import WhisperTranscriber

    batching, cpu_threads = whisper_policy.batching_for(entry, placement, os.cpu_count() or 1)
    return WhisperTranscriber.load(
        path,
        placement.device,
        placement.compute_type,
        beam_size=entry.beam_size,
        batching=batching,
        cpu_threads=cpu_threads,
    )


def _piper(path: Path, voice: VoiceEntry, use_cuda: bool) -> Synthesizer:
    from engines.piper.voice import PiperSynthesizer

    return PiperSynthesizer.load(path, use_cuda=use_cuda)


def _kokoro(path: Path, voice: VoiceEntry, use_cuda: bool) -> Synthesizer:
    from engines.kokoro.voice import KokoroSynthesizer

    return KokoroSynthesizer.load(path, voice.style, voice.language, use_cuda=use_cuda)


TRANSCRIBERS: dict[str, TranscriptionEngine] = {
    "whisper": TranscriptionEngine(_whisper, whisper_policy.requests_at_once),
}
"""Transcription engines by name: the registry's `engine` for a transcription model."""
SYNTHESIZERS: dict[str, SynthesizerMaker] = {"piper": _piper, "kokoro": _kokoro}
"""Synthesis engines by name: the registry's `engine` for a voice."""


def _diarizer(path: Path, entry: ModelEntry, placement: Placement) -> Diarizer:
    from engines.diarize.pipeline import SpeakerDiarizer

    return SpeakerDiarizer.load(path / "segmentation.onnx", path / "encoder.pt")


DIARIZERS: dict[str, DiarizerMaker] = {"diarizer": _diarizer}
"""Diarization engines by name: the registry's `engine` for a diarization model. `diarizer` runs on the
CPU (onnxruntime and numpy) from a folder holding `segmentation.onnx` (pyannote segmentation-3.0) and
`encoder.pt` (Resemblyzer's GE2E checkpoint)."""


def requests_at_once(entry: ModelEntry, placement: Placement, cpu_count: int) -> int:
    """Pure: how many requests a transcription model takes at once to keep its engine busy, as its engine
    says (Whisper: enough to fill every worker's batch), or one per core."""
    engine = TRANSCRIBERS.get(entry.engine)
    if engine is None or engine.requests_at_once is None:
        return cpu_count
    return engine.requests_at_once(entry, placement, cpu_count)


class EngineFactory(Protocol):
    """Makes the engines the loader caches; tests hand the app small fakes through this seam."""

    def transcriber(self, entry: ModelEntry, placement: Placement) -> Transcriber: ...

    def synthesizer(self, voice: VoiceEntry, use_cuda: bool) -> Synthesizer: ...

    def diarizer(self, entry: ModelEntry, placement: Placement) -> Diarizer: ...

    def installed(self, registry: Registry) -> Installed:
        """Which of the registry's models and voices are on this machine."""
        ...


def _engine(table: dict[str, T], name: str, model: str) -> T:
    if name not in table:
        raise ValueError(f"{model} names the engine {name!r}, which is not here (known: {', '.join(sorted(table))})")
    return table[name]


@dataclass(frozen=True)
class ModelFiles:
    """The real engines, from verified model files in the cache."""

    cache_dir: Path
    allow_download: bool = False

    def transcriber(self, entry: ModelEntry, placement: Placement) -> Transcriber:
        if entry.source is None:
            raise ValueError(f"{entry.slug} has no source")  # the registry gives every transcription model one
        path = materialize(entry.source, entry.slug, self.cache_dir, self.allow_download)
        return _engine(TRANSCRIBERS, entry.engine, entry.slug).load(path, entry, placement)

    def synthesizer(self, voice: VoiceEntry, use_cuda: bool) -> Synthesizer:
        path = materialize(voice.source, voice.name, self.cache_dir, self.allow_download)
        return _engine(SYNTHESIZERS, voice.engine, voice.name)(path, voice, use_cuda)

    def diarizer(self, entry: ModelEntry, placement: Placement) -> Diarizer:
        if entry.source is None:
            raise ValueError(f"{entry.slug} has no source")  # the registry gives every diarization model one
        path = materialize(entry.source, entry.slug, self.cache_dir, self.allow_download)
        return _engine(DIARIZERS, entry.engine, entry.slug)(path, entry, placement)

    def installed(self, registry: Registry) -> Installed:
        return installed(registry, self.cache_dir)


@dataclass
class _Slot:
    lock: threading.Lock
    value: object = None
    last_used: float = 0.0
    load_seconds: float = 0.0
    idle_unload_s: float = 0.0
    users: int = 0


class ModelLoader:
    """A cache of loaded engines keyed by model slug or voice name, one lock per key."""

    def __init__(self, registry: Registry, engines: EngineFactory, has_cuda: bool | None = None) -> None:
        self.registry = registry
        self.engines = engines
        self.has_cuda = cuda_available() if has_cuda is None else has_cuda
        # Piper runs on onnxruntime, whose CPU-only wheel has no CUDA even where CTranslate2 does.
        self.piper_cuda = self.has_cuda and onnx_cuda_available()
        self._slots: dict[str, _Slot] = {}
        self._slots_lock = threading.Lock()
        self.on_load: Callable[[str, float], None] | None = None

    def transcriber(self, entry: ModelEntry) -> Transcriber:
        placement = place(entry, self.has_cuda)
        return self._get(f"model:{entry.slug}", lambda: self.engines.transcriber(entry, placement), entry.idle_unload_s)

    def diarizer(self, entry: ModelEntry) -> Diarizer:
        placement = place(entry, self.has_cuda)
        return self._get(f"model:{entry.slug}", lambda: self.engines.diarizer(entry, placement), entry.idle_unload_s)

    def synthesis_device(self, entry: ModelEntry) -> str:
        return place(entry, self.piper_cuda).device

    def synthesizer(self, voice_name: str, entry: ModelEntry) -> Synthesizer:
        device = self.synthesis_device(entry)
        voice = self.registry.voices[voice_name]
        return self._get(
            f"voice:{voice_name}:{device}",
            lambda: self.engines.synthesizer(voice, use_cuda=device == "cuda"),
            entry.idle_unload_s,
        )

    @contextmanager
    def in_use(self, engine: object) -> Iterator[None]:
        """Mark a loaded engine busy, so that idle unloading leaves it alone meanwhile."""
        with self._slots_lock:
            slot = next((s for s in self._slots.values() if s.value is engine), None)
            if slot is not None:
                slot.users += 1
        try:
            yield
        finally:
            with self._slots_lock:
                if slot is not None:
                    slot.users -= 1
                    slot.last_used = time.monotonic()

    def loaded(self) -> dict[str, float]:
        """Keys of loaded engines and how long each took to load."""
        with self._slots_lock:
            return {k: s.load_seconds for k, s in self._slots.items() if s.value is not None}

    def forget(self, prefix: str) -> None:
        """Drop the loaded engines whose key starts with `prefix` (a model removed at run time); one in
        use stays with the request that holds it."""
        with self._slots_lock:
            for key in [k for k in self._slots if k.startswith(prefix)]:
                del self._slots[key]

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Drop engines unused for longer than their model's `idle_unload_s` (0: never)."""
        now = time.monotonic() if now is None else now
        dropped = []
        with self._slots_lock:
            for key, slot in self._slots.items():
                idle = slot.idle_unload_s > 0 and not slot.users and now - slot.last_used > slot.idle_unload_s
                if slot.value is not None and idle and slot.lock.acquire(False):
                    try:
                        slot.value = None
                        dropped.append(key)
                    finally:
                        slot.lock.release()
        for key in dropped:
            log.info("unloaded idle %s", key)
        return dropped

    def _get(self, key: str, load: Callable[[], T], idle_unload_s: float) -> T:
        # A key is only ever loaded by one kind of `load`, so its slot holds what `load` returns.
        with self._slots_lock:
            slot = self._slots.setdefault(key, _Slot(lock=threading.Lock(), idle_unload_s=idle_unload_s))
        slot.last_used = time.monotonic()
        # One read: an unload between a check and a second read would hand out None.
        value = slot.value
        if value is not None:
            return cast(T, value)
        with slot.lock:
            if slot.value is None:
                started = time.perf_counter()
                slot.value = load()
                slot.load_seconds = time.perf_counter() - started
                log.info("loaded %s in %.2f s", key, slot.load_seconds)
                if self.on_load is not None:
                    self.on_load(key, slot.load_seconds)
            slot.last_used = time.monotonic()
            return cast(T, slot.value)
