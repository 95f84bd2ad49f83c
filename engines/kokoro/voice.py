"""A Kokoro-family voice as a `engines.base.Synthesizer`: text to Kokoro's phonemes, phonemes to audio per sentence."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from engines.audio.levels import levelled, voice_gain
from engines.audio.stretch import stretch
from engines.base import Pauses, Piece, SpeechSettings, VoiceInfo
from engines.kokoro.frontend import Frontend, bounded, frontend
from engines.kokoro.model import SAMPLE_RATE, KokoroModel, read_styles, read_vocab, shared
from engines.models.catalog import KOKORO_LANGUAGES
from engines.text.pieces import plan
from engines.text.scripts import primary

MODEL_SPEEDS = (0.5, 2.0)
"""The speeds asked of the model itself, which sound the most natural; beyond them the audio is time-stretched
the rest of the way at the same pitch. Slower, the model's lengths are within 6 % of 1 / speed. Faster, its
durations, rounded to whole frames, come out 15 % short at 1.5 and 10 % long at 2, varying by sentence: there
the piece is rendered at speed 1 too, and the fast one stretched to exactly its length over the speed."""
CALIBRATION = {
    "en": "The quick brown fox jumps over the lazy dog.",
    "ja": "駅までは歩いて十分ですが、今日は雨なのでバスに乗ります。",
}
"""A sentence per language that sets a voice's gain (see `engines.audio.levels.voice_gain`), its edges and
its fastest length; a short one would measure the last two no better than 10 %."""
SILENT = frozenset(';:,.!?—…"()“”«» ')
"""Phonemes that are punctuation or spacing: a piece of these alone says nothing and is dropped."""
VOCAB_FILES = ("vocab.json", "tokenizer.json", "config.json")
EDGES_S = (0.04, 0.15)
"""Silence to keep before and after a piece's speech at speed 1: Kokoro pads a piece with about 0.3 s
and 0.5 s, Piper with about 0.05 s and 0.15 s, and the pauses between sentences are the server's to set."""
QUIET = 0.02
"""Quieter than this share of a piece's peak is silence, for cutting its edges."""


@dataclass
class KokoroSynthesizer:
    model: KokoroModel
    styles: np.ndarray | None
    """The voice's style vectors (Kokoro-82M); None for a distilled model, whose voice is built in."""
    phonemize: Frontend
    language: str
    gain: float = 1.0
    """The voice's fixed gain, which brings its speech to the common level (`engines.audio.levels`)."""
    cut_s: tuple[float, float] = (0.0, 0.0)
    """Silence cut from the start and the end of every piece at speed 1 (less, the faster): what the model
    pads its speech with beyond EDGES_S, measured once. A cut in proportion to the piece's length keeps
    speeds proportional, as one found afresh in each piece would not."""

    @classmethod
    def load(cls, path: Path, style: str = "", language: str = "", use_cuda: bool = False) -> KokoroSynthesizer:
        """The voice in `path`: one `.onnx` model, its phoneme vocabulary, and for Kokoro-82M the
        voice's style vectors, `style` by name (from a voice pack or the voice's own `.bin`)."""
        folder = path if path.is_dir() else path.parent
        models = sorted(folder.glob("*.onnx"))
        if len(models) != 1:
            raise FileNotFoundError(f"expected one .onnx model in {folder}, found {len(models)}")
        vocab_file = next((folder / name for name in VOCAB_FILES if (folder / name).is_file()), None)
        if vocab_file is None:
            raise FileNotFoundError(f"no phoneme vocabulary ({', '.join(VOCAB_FILES)}) in {folder}")
        model = shared(models[0], read_vocab(vocab_file), use_cuda)
        language = language or KOKORO_LANGUAGES.get(style[:1], "")  # named af_bella, jf_alpha, …
        if not language:
            raise ValueError(f"the language of the Kokoro voice in {folder} is not given and not in its name")
        styles = None if model.distilled else read_styles(folder, style)
        voice = cls(model=model, styles=styles, phonemize=frontend(language), language=language)
        calibration = voice.pieces(CALIBRATION[primary(language)], quick_start=False)[0].units
        padded = voice.model.speak(voice.model.ids("".join(calibration)), styles, 1.0)
        lead, trail = _silent_edges(padded)
        voice.cut_s = (max(0.0, lead - EDGES_S[0]), max(0.0, trail - EDGES_S[1]))
        voice.gain = voice_gain(voice._trimmed(padded, 1.0), SAMPLE_RATE)
        return voice

    @cached_property
    def info(self) -> VoiceInfo:
        distilled = self.model.distilled
        return VoiceInfo(
            engine="kokoro",
            language=self.language,
            sample_rate=SAMPLE_RATE,
            made_by="hibari (distilled from Kokoro-82M)" if distilled else "Kokoro-82M",
            url="https://pypi.org/project/hibari-tts/" if distilled else "https://huggingface.co/hexgrad/Kokoro-82M",
        )

    def pieces(self, text: str, pauses: Pauses | None = None, quick_start: bool = True) -> list[Piece]:
        """The text's sentences as Kokoro's phonemes (`engines.text.pieces.plan`); a sentence longer than
        the model takes is cut at its clauses."""
        return plan(text, self._sentences, pauses, quick_start)

    def _sentences(self, paragraph: str) -> list[list[str]]:
        spoken = [piece for sentence in self.phonemize(paragraph) for piece in bounded(sentence)]
        return [list(piece) for piece in spoken if any(c in self.model.vocab and c not in SILENT for c in piece)]

    def render(self, units: list[str], settings: SpeechSettings, speed: float = 1.0) -> np.ndarray:
        """Speak one piece `speed` times faster (a name's `length_scale` slower), at the same pitch: the
        model's own speed within MODEL_SPEEDS, time-stretching for the rest and, faster than 1, for what
        the model's length missed (see MODEL_SPEEDS)."""
        rate = speed / (settings.length_scale or 1.0)
        voiced = min(max(rate, MODEL_SPEEDS[0]), MODEL_SPEEDS[1])
        audio = self._speak(units, voiced)
        factor = rate / voiced
        if rate > 1:
            factor = len(audio) * rate / len(self._speak(units, 1.0))
        if abs(factor - 1) > 0.01:
            audio = stretch(audio, factor, SAMPLE_RATE)
        return levelled(audio * self.gain, SAMPLE_RATE)

    def _speak(self, units: list[str], speed: float) -> np.ndarray:
        return self._trimmed(self.model.speak(self.model.ids("".join(units)), self.styles, speed), speed)

    def _trimmed(self, audio: np.ndarray, speed: float) -> np.ndarray:
        if not audio.size:
            return audio
        # The measured cut, but never into this piece's speech.
        lead, trail = _silent_edges(audio)
        start, end = (
            min(cut / speed, max(0.0, edge - 0.02)) for cut, edge in zip(self.cut_s, (lead, trail), strict=True)
        )
        return audio[round(start * SAMPLE_RATE) : len(audio) - round(end * SAMPLE_RATE)]


def _silent_edges(audio: np.ndarray) -> tuple[float, float]:
    """Seconds of silence (under QUIET of the peak) before the first sound and after the last."""
    loud = np.flatnonzero(np.abs(audio) > QUIET * float(np.max(np.abs(audio), initial=0.0)))
    if not loud.size:
        return 0.0, 0.0
    return int(loud[0]) / SAMPLE_RATE, (len(audio) - 1 - int(loud[-1])) / SAMPLE_RATE
