"""Decode any upload (mp3, wav, ogg, webm, m4a, flac, aac, opus, ...) to 16 kHz mono float32."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt
import soxr

WHISPER_RATE = 16000


class UndecodableAudio(ValueError):
    """The upload is not audio that FFmpeg can decode."""


class AudioTooLong(ValueError):
    """The audio lasts longer than the server accepts."""

    def __init__(self, seconds: float, limit: float, at_least: bool = False) -> None:
        length = f"at least {seconds:.0f} s" if at_least else f"{seconds:.0f} s"
        super().__init__(f"audio lasts {length}, longer than the {limit:.0f} s this server accepts")
        self.seconds = seconds
        self.limit = limit


def decode(source: Path | BinaryIO, max_seconds: float | None = None) -> npt.NDArray[np.float32]:
    """Decode the first audio stream of `source`, refusing audio longer than `max_seconds`.

    The length is checked from the container header before decoding, and again while decoding, so
    neither a lying header nor a tiny file that expands to hours gets through. The samples go straight
    into one buffer, sized by the header's length or else by the limit: it is only reserved, and memory
    is taken as samples are written, so a file costs what it decodes to, once (no pieces joined at the
    end), and a refused one no more than the limit.
    """
    max_samples = None if max_seconds is None else int(max_seconds * WHISPER_RATE)
    try:
        with av.open(
            str(source) if isinstance(source, Path) else source, mode="r", metadata_errors="ignore"
        ) as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            declared = _declared_seconds(container, stream)
            if max_seconds is not None and declared is not None and declared > max_seconds:
                raise AudioTooLong(declared, max_seconds)
            audio = _Buffer(declared, max_samples)
            # 16-bit, as faster-whisper's own decode_audio resamples: the server then hears exactly
            # what faster-whisper in-process hears from the same file (float samples differ in the
            # last bits, and that is enough to change a word here and there).
            resampler = av.AudioResampler(format="s16", layout="mono", rate=WHISPER_RATE)
            for frame in _frames(container, stream):
                for out in resampler.resample(frame):
                    audio.add(_floats(out), max_seconds)
            for out in resampler.resample(None):
                audio.add(_floats(out), max_seconds)
    except (UndecodableAudio, AudioTooLong):
        raise
    except (av.EOFError, av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise undecodable(exc) from exc
    finally:
        # PyAV's resampler graphs are reference cycles, freed only by a collection (faster-whisper
        # #390). They are young, so the young generations suffice: a full collection costs tens of
        # milliseconds in a server process with a large heap, all of it holding the GIL.
        gc.collect(1)
    if audio.size == 0:
        raise UndecodableAudio("the file holds no audio samples")
    return audio.samples()


def undecodable(exc: Exception) -> UndecodableAudio:
    """PyAV's (and the file's) failures, as the one error a caller handles."""
    if isinstance(exc, av.EOFError):
        return UndecodableAudio("the file ends before its audio can be read (was the upload cut short?)")
    return UndecodableAudio(f"could not decode the file as audio ({type(exc).__name__})")


def _floats(frame: av.AudioFrame) -> np.ndarray:
    return frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0


class _Buffer:
    """Decoded samples, written into one reserved array (grown, with a copy, only past a header that
    said less and with no limit to size it by)."""

    def __init__(self, declared_s: float | None, max_samples: int | None) -> None:
        if declared_s is not None:
            # A little over the header's length: containers round it, and resamplers flush a tail.
            capacity = int(declared_s * WHISPER_RATE) + WHISPER_RATE
            if max_samples is not None:
                capacity = min(capacity, max_samples + 1)
        else:
            capacity = max_samples + 1 if max_samples is not None else 600 * WHISPER_RATE
        self.max_samples = max_samples
        self._data = np.empty(max(capacity, 1), dtype=np.float32)
        self.size = 0

    def add(self, samples: np.ndarray, max_seconds: float | None) -> None:
        end = self.size + samples.size
        if self.max_samples is not None and end > self.max_samples:
            raise AudioTooLong(end / WHISPER_RATE, max_seconds or 0.0, at_least=True)
        if end > self._data.size:
            grown = np.empty(max(end, 2 * self._data.size), dtype=np.float32)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = samples
        self.size = end

    def samples(self) -> npt.NDArray[np.float32]:
        return self._data[: self.size]


def _frames(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.InvalidDataError:
                # One corrupt packet in an otherwise good file is skipped, as ffmpeg does.
                continue
    except av.EOFError:
        # A file cut short ends where its data ends; what came before it is still the audio.
        return


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def from_samples(samples: np.ndarray, rate: int, max_seconds: float | None = None) -> npt.NDArray[np.float32]:
    """Samples a caller already holds as 16 kHz mono float32, held to the same length limit as a file.

    They are one channel, or channels last; floats in [-1, 1], or integer PCM as it came off the wire
    (8-bit unsigned, 16 or 32-bit signed), so that a front door hands its bytes over as they are and
    the conversion runs here, in the worker thread. What is not finite audio at a sane rate is refused
    as undecodable.
    """
    audio = np.asarray(samples)
    if audio.ndim not in (1, 2) or audio.dtype.kind not in "fiu":
        raise UndecodableAudio("samples must be one channel of numbers, or channels last")
    if not 1000 <= rate <= 384000:
        raise UndecodableAudio(f"a sample rate of {rate} Hz is not one audio is sampled at")
    if max_seconds is not None and len(audio) / rate > max_seconds:
        raise AudioTooLong(len(audio) / rate, max_seconds)
    floats = _as_floats(audio)
    if floats.ndim == 2:
        floats = floats.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(floats)):
        raise UndecodableAudio("the samples hold values that are not finite")
    if rate != WHISPER_RATE and floats.size:
        floats = soxr.resample(floats, rate, WHISPER_RATE, quality="HQ").astype(np.float32, copy=False)
    return np.clip(floats, -1.0, 1.0)


def _as_floats(audio: np.ndarray) -> npt.NDArray[np.float32]:
    """Integer PCM scaled to [-1, 1): unsigned centred on its midpoint, signed on zero."""
    if audio.dtype.kind == "f":
        return audio.astype(np.float32, copy=False)
    half = float(2 ** (8 * audio.itemsize - 1))
    offset = half if audio.dtype.kind == "u" else 0.0
    return ((audio.astype(np.float32) - offset) / half).astype(np.float32, copy=False)
