"""Pitch-preserving time-stretching (WSOLA) for speeds Piper's length scale cannot reach.

Waveform-similarity overlap-add: output frames are laid half a frame apart; each is read from the
input near where the speed puts it, shifted (within a few milliseconds) to where it best continues
the frame before. For speech this keeps the pitch and the voice, without a phase vocoder's smear.
The maintained libraries do not fit: audiotsm and pytsmod are unmaintained, and RubberBand is GPL.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.04
SEARCH_S = 0.012


def stretch(audio: np.ndarray, factor: float, rate: int) -> np.ndarray:
    """`audio` played `factor` times faster (shorter for factor > 1), at the same pitch."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if factor == 1.0 or audio.size == 0:
        return audio
    frame = max(32, int(rate * FRAME_S) // 2 * 2)
    hop_out = frame // 2
    hop_in = hop_out * factor
    tolerance = max(1, int(rate * SEARCH_S))
    window = np.hanning(frame).astype(np.float32)
    length = round(audio.size / factor)
    frames = length // hop_out + 2
    padded = np.concatenate(
        [np.zeros(tolerance, np.float32), audio, np.zeros(int(frames * hop_in) + 2 * frame + tolerance, np.float32)]
    )
    out = np.zeros(frames * hop_out + frame, np.float32)
    weight = np.zeros_like(out)
    previous = tolerance
    for k in range(frames):
        nominal = tolerance + int(k * hop_in)
        if k == 0:
            start = nominal
        else:
            # The frame that would naturally follow the last one chosen, and where it fits best.
            follow = padded[previous + hop_out : previous + hop_out + frame]
            region = padded[nominal - tolerance : nominal + tolerance + frame]
            start = nominal - tolerance + int(np.argmax(np.correlate(region, follow, mode="valid")))
        at = k * hop_out
        out[at : at + frame] += padded[start : start + frame] * window
        weight[at : at + frame] += window
        previous = start
    return (out[:length] / np.maximum(weight[:length], 1e-3)).astype(np.float32)
