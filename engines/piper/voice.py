"""A Piper voice as a `engines.base.Synthesizer`: text to phonemes, phonemes to float32 audio per sentence."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from engines.audio.levels import levelled, voice_gain
from engines.audio.stretch import stretch
from engines.base import Pauses, Piece, SpeechSettings, VoiceInfo
from engines.onnx import session
from engines.text.pieces import plan

# espeak-ng keeps process-wide state; two threads phonemizing at once corrupt it.
_ESPEAK_LOCK = threading.Lock()


MIN_LENGTH_SCALE = 0.15
PIPER_MAX_SPEED = 2.0
"""Fastest speed asked of Piper itself: its length scale stays within 10 % of the asked length to here."""
CALIBRATION = "The quick brown fox jumps over the lazy dog."


@dataclass
class PiperSynthesizer:
    voice: PiperVoice
    rounding_share: float = 0.0
    """The part of a sentence's length that the length scale does not scale, relative to the rest."""

    gain: float = 1.0
    """The voice's fixed gain, which brings its speech to TARGET_RMS."""

    @classmethod
    def load(cls, path: Path, use_cuda: bool = False) -> PiperSynthesizer:
        model = _find_onnx(path)
        config_path = Path(f"{model}.json")
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        synthesizer = cls(voice=PiperVoice(config=config, session=session(model, use_cuda)))
        synthesizer.rounding_share = synthesizer._measure_rounding_share()
        synthesizer.gain = synthesizer._measure_gain()
        return synthesizer

    def _measure_gain(self) -> float:
        """One gain per voice, from the level of its speech in a calibration sentence: a stream's
        sentences then differ only as the voice makes them differ, not each pushed to full scale."""
        phonemes = self.pieces(CALIBRATION, quick_start=False)[0].units
        return voice_gain(self._piper(phonemes, SpeechSettings(noise_w_scale=0.0), 1.0), self.sample_rate)

    def _measure_rounding_share(self) -> float:
        """Piper rounds every phoneme up to whole frames, a length that `length_scale` does not
        scale. Rendering one sentence at two scales tells that fixed part (as a share of the
        scaled part), so `render` can pick the scale that makes speed truly proportional."""
        phonemes = self.pieces(CALIBRATION, quick_start=False)[0].units
        still = SpeechSettings(noise_w_scale=0.0)
        once = len(self._piper(phonemes, still, 1.0))
        twice = len(self._piper(phonemes, still, 2.0))
        scaled = twice - once
        return max(0.0, (once - scaled) / scaled) if scaled > 0 else 0.0

    @cached_property
    def info(self) -> VoiceInfo:
        """Read once from the voice's config: every request asks for it."""
        config = self.voice.config
        return VoiceInfo(
            engine="piper",
            language=self.language,
            sample_rate=self.sample_rate,
            speakers={str(name): int(number) for name, number in config.speaker_id_map.items()},
            num_speakers=self.num_speakers,
            made_by="Piper",
            url="https://github.com/OHF-Voice/piper1-gpl",
        )

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    @property
    def language(self) -> str:
        """The voice's espeak language, such as en-us: which spelling-out its text gets."""
        return str(self.voice.config.espeak_voice).lower()

    @property
    def num_speakers(self) -> int:
        return int(self.voice.config.num_speakers)

    def pieces(self, text: str, pauses: Pauses | None = None, quick_start: bool = True) -> list[Piece]:
        """The text's sentences as phonemes (`engines.text.pieces.plan`)."""
        return plan(text, self._phonemize, pauses, quick_start)

    def _phonemize(self, paragraph: str) -> list[list[str]]:
        with _ESPEAK_LOCK:
            return list(self.voice.phonemize(paragraph))

    def render(self, phonemes: list[str], settings: SpeechSettings, speed: float = 1.0) -> np.ndarray:
        """Speak one piece `speed` times faster, at the same pitch.

        Up to PIPER_MAX_SPEED the voice itself speaks faster (Piper's length scale, which sounds the
        most natural); past it, that audio is time-stretched the rest of the way, since Piper cannot
        speak any shorter. Length is `scaled * length_scale + fixed` (Piper rounds every phoneme up
        to whole frames), so the scale is solved for, not just divided by the speed.
        """
        share = self.rounding_share
        voiced = min(speed, PIPER_MAX_SPEED)
        audio = self._raw(phonemes, settings, max(MIN_LENGTH_SCALE, (1 + share) / voiced - share))
        if speed > voiced:
            audio = stretch(audio, speed / voiced, self.sample_rate)
        return audio

    def _raw(self, phonemes: list[str], settings: SpeechSettings, scale: float) -> np.ndarray:
        """One piece at the voice's gain, levelled with the other pieces (`engines.audio.levels`)."""
        return levelled(self._piper(phonemes, settings, scale) * self.gain, self.sample_rate)

    def _piper(self, phonemes: list[str], settings: SpeechSettings, scale: float) -> np.ndarray:
        length_scale = settings.length_scale or self.voice.config.length_scale
        config = SynthesisConfig(
            speaker_id=settings.speaker_id,
            length_scale=length_scale * scale,
            noise_scale=settings.noise_scale,
            noise_w_scale=settings.noise_w_scale,
        )
        audio = self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), config)
        audio = audio[0] if isinstance(audio, tuple) else audio
        return np.asarray(audio, dtype=np.float32).reshape(-1)


def _find_onnx(path: Path) -> Path:
    if path.is_file():
        return path
    candidates = sorted(path.glob("*.onnx"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"expected one .onnx voice in {path}, found {len(candidates)}")
    return candidates[0]
