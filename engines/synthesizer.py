"""Piper behind a small interface: text and voice settings in, float32 audio per sentence out."""

from __future__ import annotations

import json
import threading
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


MIN_LENGTH_SCALE = 0.15


@dataclass
class Synthesizer:
    voice: PiperVoice
    rounding_share: float = 0.0
    """The part of a sentence's length that the length scale does not scale, relative to the rest."""

    @classmethod
    def load(cls, path: Path, use_cuda: bool = False) -> Synthesizer:
        model = _find_onnx(path)
        config_path = Path(f"{model}.json")
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        options = onnxruntime.SessionOptions()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=providers)
        synthesizer = cls(voice=PiperVoice(config=config, session=session))
        synthesizer.rounding_share = synthesizer._measure_rounding_share()
        return synthesizer

    def _measure_rounding_share(self) -> float:
        """Piper rounds every phoneme up to whole frames, a length that `length_scale` does not
        scale. Rendering one sentence at two scales tells that fixed part (as a share of the
        scaled part), so `render` can pick the scale that makes speed truly proportional."""
        phonemes = self.sentences("The quick brown fox jumps over the lazy dog.", quick_start=False)[0]
        still = VoiceSettings(noise_w_scale=0.0)
        once = len(self._raw(phonemes, still, 1.0))
        twice = len(self._raw(phonemes, still, 2.0))
        scaled = twice - once
        return max(0.0, (once - scaled) / scaled) if scaled > 0 else 0.0

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
        """Speak one sentence, `speed` times faster, through Piper's length scale (pitch is untouched).

        Length is `scaled * length_scale + fixed`, so dividing the scale by `speed` alone
        would not divide the length by it; the scale is solved for that instead. Past about
        2.5x, where the scale would reach MIN_LENGTH_SCALE, speech cannot get shorter.
        """
        share = self.rounding_share
        return self._raw(phonemes, settings, max(MIN_LENGTH_SCALE, (1 + share) / speed - share))

    def _raw(self, phonemes: list[str], settings: VoiceSettings, scale: float) -> np.ndarray:
        length_scale = settings.length_scale or self.voice.config.length_scale
        config = SynthesisConfig(
            speaker_id=settings.speaker_id,
            length_scale=length_scale * scale,
            noise_scale=settings.noise_scale,
            noise_w_scale=settings.noise_w_scale,
        )
        audio = self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), config)
        audio = audio[0] if isinstance(audio, tuple) else audio
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < 1e-8:
            return np.zeros_like(audio, dtype=np.float32)
        return np.clip(audio / peak, -1.0, 1.0).astype(np.float32)


QUICK_START_PHONEMES = 20
"""About three words, a second of speech: the size of the first piece of a long first sentence."""


def _first_clause(phonemes: list[str]) -> list[list[str]]:
    """Cut a long first sentence after its first clause, or else after its first few words.

    Under load every stream's first piece is rendered before anyone's second, so a small
    first piece is what keeps the first byte quick for all of them.
    """
    if len(phonemes) <= 2 * QUICK_START_PHONEMES:
        return [phonemes]
    window = range(QUICK_START_PHONEMES // 2, 2 * QUICK_START_PHONEMES)
    cut = next((i for i in window if phonemes[i] in (",", ";", ":")), None)
    if cut is None:
        cut = next((i for i in window if i >= QUICK_START_PHONEMES and phonemes[i] == " "), None)
    if cut is None:
        return [phonemes]
    return [phonemes[: cut + 1], phonemes[cut + 1 :]]


def _find_onnx(path: Path) -> Path:
    if path.is_file():
        return path
    candidates = sorted(path.glob("*.onnx"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"expected one .onnx voice in {path}, found {len(candidates)}")
    return candidates[0]
