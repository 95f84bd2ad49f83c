"""Piper behind a small interface: text and voice settings in, float32 audio per sentence out."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from engines.stretch import stretch

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
PIPER_MAX_SPEED = 2.0
"""Fastest speed asked of Piper itself: its length scale stays within 10 % of the asked length to here."""
CALIBRATION = "The quick brown fox jumps over the lazy dog."
TARGET_RMS = 10 ** (-20 / 20)
"""Speech at -20 dBFS RMS: the usual level for speech, with room above it for its peaks."""
LEVELLING_DB = 3.0
LEVELLING_SHARE = 2 / 3
"""How much of a piece's distance from TARGET_RMS is made up: most, not all, so sentences keep some shape."""
PEAK_LIMIT = 10 ** (-3 / 20)
"""No sample above -3 dBFS, so that MP3 and AAC decoders, which overshoot, stay under -1 dBFS."""
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Pauses:
    sentence_s: float = 0.2
    """Silence after a sentence."""
    paragraph_s: float = 0.6
    """Silence after the last sentence of a paragraph (text followed by a blank line)."""


@dataclass(frozen=True)
class Piece:
    """What is rendered in one go: a sentence, or the first clause of a long first sentence."""

    phonemes: list[str]
    pause_after_s: float


def speech_rms(audio: np.ndarray, rate: int) -> float:
    """RMS over the 20 ms frames that hold speech (within 20 dB of the loudest), so that the pauses
    and the trailing off inside a sentence do not lower its level."""
    frame = max(1, rate // 50)
    usable = audio[: len(audio) // frame * frame].reshape(-1, frame) if len(audio) >= frame else audio.reshape(1, -1)
    energy = np.mean(np.square(usable, dtype=np.float64), axis=1)
    if not energy.size or float(energy.max()) <= 0:
        return 0.0
    loud = energy[energy >= energy.max() * 1e-2]
    return float(np.sqrt(loud.mean()))


@dataclass
class Synthesizer:
    voice: PiperVoice
    rounding_share: float = 0.0
    """The part of a sentence's length that the length scale does not scale, relative to the rest."""

    gain: float = 1.0
    """The voice's fixed gain, which brings its speech to TARGET_RMS."""

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
        synthesizer.gain = synthesizer._measure_gain()
        return synthesizer

    def _measure_gain(self) -> float:
        """One gain per voice, from the level of its speech in a calibration sentence: a stream's
        sentences then differ only as the voice makes them differ, not each pushed to full scale."""
        phonemes = self.pieces(CALIBRATION, quick_start=False)[0].phonemes
        level = speech_rms(self._piper(phonemes, VoiceSettings(noise_w_scale=0.0), 1.0), self.sample_rate)
        return TARGET_RMS / level if level > 1e-6 else 1.0

    def _measure_rounding_share(self) -> float:
        """Piper rounds every phoneme up to whole frames, a length that `length_scale` does not
        scale. Rendering one sentence at two scales tells that fixed part (as a share of the
        scaled part), so `render` can pick the scale that makes speed truly proportional."""
        phonemes = self.pieces(CALIBRATION, quick_start=False)[0].phonemes
        still = VoiceSettings(noise_w_scale=0.0)
        once = len(self._piper(phonemes, still, 1.0))
        twice = len(self._piper(phonemes, still, 2.0))
        scaled = twice - once
        return max(0.0, (once - scaled) / scaled) if scaled > 0 else 0.0

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    @property
    def language(self) -> str:
        """The voice's espeak language, such as en-us: which spelling-out its text gets."""
        return str(self.voice.config.espeak_voice)

    @property
    def num_speakers(self) -> int:
        return int(self.voice.config.num_speakers)

    def pieces(self, text: str, pauses: Pauses | None = None, quick_start: bool = True) -> list[Piece]:
        """The text's sentences as phonemes, each with the silence that follows it: a sentence pause,
        a longer one at a paragraph break (a blank line), none after the last. Empty sentences
        (punctuation only) are dropped.

        With `quick_start`, a long first sentence is split at its first clause punctuation (never
        inside a clause), so that the first audio is ready sooner; a sentence with no clause break
        stays whole.
        """
        pauses = pauses or Pauses()
        found: list[Piece] = []
        for paragraph in (p for p in PARAGRAPH_BREAK.split(text) if p.strip()):
            with _ESPEAK_LOCK:
                sentences = [s for s in self.voice.phonemize(paragraph) if s]
            found += [Piece(s, pauses.sentence_s) for s in sentences]
            if found:
                found[-1] = Piece(found[-1].phonemes, pauses.paragraph_s)
        if not found:
            return []
        found[-1] = Piece(found[-1].phonemes, 0.0)
        if quick_start:
            first = _first_clause(found[0].phonemes)
            if len(first) == 2:
                found[:1] = [Piece(first[0], 0.0), Piece(first[1], found[0].pause_after_s)]
        return found

    def render(self, phonemes: list[str], settings: VoiceSettings, speed: float = 1.0) -> np.ndarray:
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

    def _raw(self, phonemes: list[str], settings: VoiceSettings, scale: float) -> np.ndarray:
        """One piece at the voice's gain, levelled: brought LEVELLING_SHARE of the way towards TARGET_RMS,
        by at most LEVELLING_DB, so that none stands out (a long statement comes out of Piper a few dB
        quieter than a question) while louder and quieter sentences stay in the same order. Then
        scaled down only where it would come within PEAK_LIMIT of full scale."""
        audio = self._piper(phonemes, settings, scale) * self.gain
        level = speech_rms(audio, self.sample_rate)
        if level > 1e-6:
            limit = 10 ** (LEVELLING_DB / 20)
            audio *= float(np.clip((TARGET_RMS / level) ** LEVELLING_SHARE, 1 / limit, limit))
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > PEAK_LIMIT:
            audio *= PEAK_LIMIT / peak
        return audio.astype(np.float32, copy=False)

    def _piper(self, phonemes: list[str], settings: VoiceSettings, scale: float) -> np.ndarray:
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


QUICK_START_PHONEMES = 20
"""About three words: a first sentence longer than twice this is split at its first clause break."""
CLAUSE_BREAKS = frozenset({",", ";", ":", "—", "–"})


def _first_clause(phonemes: list[str]) -> list[list[str]]:
    """A long first sentence, split after its first clause (at , ; : or a dash) when that clause is
    neither tiny nor most of the sentence; otherwise the sentence whole. Never at a plain word
    boundary: each piece is spoken with its own intonation, and a cut mid-clause sounds broken.

    Under load every stream's first piece is rendered before anyone's second (the gate's order),
    which is what keeps first bytes quick for all of them.
    """
    if len(phonemes) <= 2 * QUICK_START_PHONEMES:
        return [phonemes]
    limit = len(phonemes) - QUICK_START_PHONEMES // 2
    cut = next((i for i in range(QUICK_START_PHONEMES // 2, limit) if phonemes[i] in CLAUSE_BREAKS), None)
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
