"""Piper behind a small interface: text and voice settings in, float32 audio per sentence out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

# espeak-ng keeps process-wide state; two threads phonemizing at once corrupt it.
_ESPEAK_LOCK = threading.Lock()


@dataclass(frozen=True)
class VoiceSettings:
    speaker_id: int | None = None
    length_scale: float | None = None
    """Phoneme length; None uses the voice's own default. Divided by `speed`."""
    noise_scale: float | None = None
    noise_w_scale: float | None = None


@dataclass
class Synthesizer:
    voice: PiperVoice

    @classmethod
    def load(cls, path: Path, use_cuda: bool = False, threads: int = 0) -> Synthesizer:
        model = _find_onnx(path)
        config_path = Path(f"{model}.json")
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=providers)
        return cls(voice=PiperVoice(config=config, session=session))

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    @property
    def num_speakers(self) -> int:
        return int(self.voice.config.num_speakers)

    def sentences(self, text: str, quick_start: bool = True) -> list[list[str]]:
        """Phonemes per sentence; empty sentences (punctuation only) are dropped.

        With `quick_start`, a long first sentence is cut after its first clause
        (at a comma, semicolon or colon), so the first audio is ready sooner.
        """
        with _ESPEAK_LOCK:
            sentences = [p for p in self.voice.phonemize(text) if p]
        if quick_start and sentences:
            sentences[:1] = _first_clause(sentences[0])
        return sentences

    def render(self, phonemes: list[str], settings: VoiceSettings, speed: float = 1.0) -> np.ndarray:
        """Speak one sentence. `speed` scales Piper's length scale, so pitch is untouched."""
        length_scale = settings.length_scale or self.voice.config.length_scale
        config = SynthesisConfig(
            speaker_id=settings.speaker_id,
            length_scale=length_scale / speed,
            noise_scale=settings.noise_scale,
            noise_w_scale=settings.noise_w_scale,
        )
        audio = self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), config)
        audio = audio[0] if isinstance(audio, tuple) else audio
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < 1e-8:
            return np.zeros_like(audio, dtype=np.float32)
        return np.clip(audio / peak, -1.0, 1.0).astype(np.float32)

    def stream(self, text: str, settings: VoiceSettings, speed: float = 1.0) -> Iterator[np.ndarray]:
        for phonemes in self.sentences(text):
            yield self.render(phonemes, settings, speed)


QUICK_START_PHONEMES = 60
"""A first sentence longer than this is cut after a clause of at least a third of it."""


def _first_clause(phonemes: list[str]) -> list[list[str]]:
    if len(phonemes) <= QUICK_START_PHONEMES:
        return [phonemes]
    for index, phoneme in enumerate(phonemes[: QUICK_START_PHONEMES + 1]):
        if phoneme in (",", ";", ":") and index >= QUICK_START_PHONEMES // 3:
            return [phonemes[: index + 1], phonemes[index + 1 :]]
    return [phonemes]


def _find_onnx(path: Path) -> Path:
    if path.is_file():
        return path
    candidates = sorted(path.glob("*.onnx"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"expected one .onnx voice in {path}, found {len(candidates)}")
    return candidates[0]
