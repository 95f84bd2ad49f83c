"""Helpers for tests: convert clips with PyAV and read any audio back with its format facts."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from engines.audio.levels import speech_rms
from engines.base import SpeechSettings, Synthesizer


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray
    """float32, mono mix."""
    sample_rate: int
    channels: int
    codec: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def read_audio(data: bytes | Path) -> Decoded:
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(source) as container:
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        channels = stream.codec_context.channels
        pieces, rate = [], stream.codec_context.sample_rate
        for frame in container.decode(stream):
            array = frame.to_ndarray().astype(np.float32)
            array = array.mean(axis=0) if frame.format.is_planar else array.reshape(-1, channels).mean(axis=1)
            if frame.format.name.startswith("s16"):
                array = array / 32768.0
            elif frame.format.name.startswith("s32"):
                array = array / 2147483648.0
            pieces.append(array)
            rate = frame.sample_rate
    return Decoded(np.concatenate(pieces), rate, channels, codec)


def convert(source: Path, target: Path, container: str, codec: str, rate: int, layout: str = "mono") -> Path:
    """Re-encode `source` into `container`/`codec` at `rate`, the way a client's recorder might."""
    decoded = read_audio(source)
    with av.open(str(target), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.format or "fltp", layout=layout, rate=rate)
        frame = av.AudioFrame.from_ndarray(decoded.samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = decoded.sample_rate
        frame.pts = None
        for converted in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def median_f0(samples: np.ndarray, rate: int, low: float = 60.0, high: float = 400.0) -> float:
    """The median pitch of the voiced 40 ms frames (clear autocorrelation peak between `low` and `high`
    Hz, and loud): a rough f0, enough to tell a woman's voice from a man's."""
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    lags = np.arange(int(rate / high), int(rate / low) + 1)
    loudest = float(np.max(np.abs(samples))) if samples.size else 0.0
    pitches = []
    for start in range(0, len(samples) - frame - lags[-1], hop):
        chunk = samples[start : start + frame + lags[-1]].astype(np.float64)
        head = chunk[:frame] - chunk[:frame].mean()
        energy = float(np.dot(head, head))
        if energy <= 0 or np.sqrt(energy / frame) < 0.05 * loudest:
            continue
        scores = (
            np.array([np.dot(head, chunk[lag : lag + frame] - chunk[lag : lag + frame].mean()) for lag in lags])
            / energy
        )
        best = int(np.argmax(scores))
        if scores[best] > 0.6:
            pitches.append(rate / lags[best])
    return float(np.median(pitches)) if pitches else 0.0


FIVE_SENTENCES = (
    "Good morning. The quarterly report is finished and ready for review. Sales rose in every region! "
    "Would you like a copy sent to your office? Thank you, and have a pleasant day."
)


def sentence_levels(synthesizer: Synthesizer) -> list[tuple[float, float]]:
    """The peak and the speech level (dBFS) of each of FIVE_SENTENCES, each rendered on its own."""
    levels = []
    for piece in synthesizer.pieces(FIVE_SENTENCES, quick_start=False):
        audio = synthesizer.render(piece.units, SpeechSettings())
        levels.append((float(np.max(np.abs(audio))), 20 * math.log10(speech_rms(audio, synthesizer.info.sample_rate))))
    return levels
