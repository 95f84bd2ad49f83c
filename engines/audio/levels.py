"""One speech level for every voice and engine: a level per voice, sentences levelled towards it, peaks held down."""

from __future__ import annotations

import numpy as np

TARGET_RMS = 10 ** (-20 / 20)
"""Speech at -20 dBFS RMS: the usual level for speech, with room above it for its peaks."""
LEVELLING_DB = 3.0
LEVELLING_SHARE = 2 / 3
"""How much of a piece's distance from TARGET_RMS is made up: most, not all, so sentences keep some shape."""
PEAK_LIMIT = 10 ** (-3 / 20)
"""No sample above -3 dBFS, so that MP3 and AAC decoders, which overshoot, stay under -1 dBFS."""


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


def voice_gain(calibration: np.ndarray, rate: int) -> float:
    """The fixed gain that brings a voice's speech (a calibration sentence) to TARGET_RMS, so that a
    stream's sentences then differ only as the voice makes them differ, not each pushed to full scale."""
    level = speech_rms(calibration, rate)
    return TARGET_RMS / level if level > 1e-6 else 1.0


def levelled(audio: np.ndarray, rate: int) -> np.ndarray:
    """One piece (already at its voice's gain) brought LEVELLING_SHARE of the way towards TARGET_RMS,
    by at most LEVELLING_DB, so that none stands out (a long statement comes out of Piper a few dB
    quieter than a question) while louder and quieter sentences stay in the same order. Then scaled
    down only where it would come within PEAK_LIMIT of full scale."""
    level = speech_rms(audio, rate)
    if level > 1e-6:
        limit = 10 ** (LEVELLING_DB / 20)
        audio = audio * float(np.clip((TARGET_RMS / level) ** LEVELLING_SHARE, 1 / limit, limit))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > PEAK_LIMIT:
        audio = audio * (PEAK_LIMIT / peak)
    return audio.astype(np.float32, copy=False)
