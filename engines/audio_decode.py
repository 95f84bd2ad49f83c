"""Decode any upload (mp3, wav, ogg, webm, m4a, flac, aac, opus, ...) to 16 kHz mono float32."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

WHISPER_RATE = 16000


class UndecodableAudio(ValueError):
    """The upload is not audio that FFmpeg can decode."""


class AudioTooLong(ValueError):
    """The audio lasts longer than the server accepts."""

    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(f"audio lasts {seconds:.0f} s, longer than the {limit:.0f} s this server accepts")
        self.seconds = seconds
        self.limit = limit


def decode(source: Path | BinaryIO, max_seconds: float | None = None) -> np.ndarray:
    """Decode the first audio stream of `source`, refusing audio longer than `max_seconds`.

    The length is checked from the container header before decoding, and again while
    decoding, so neither a lying header nor a tiny file that expands to hours gets through.
    """
    max_samples = None if max_seconds is None else int(max_seconds * WHISPER_RATE)
    pieces: list[np.ndarray] = []
    total = 0
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
            resampler = av.AudioResampler(format="flt", layout="mono", rate=WHISPER_RATE)
            for frame in _frames(container, stream):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    pieces.append(samples.copy())
                    total += samples.size
                if max_samples is not None and total > max_samples:
                    raise AudioTooLong(total / WHISPER_RATE, max_seconds or 0.0)
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1).copy())
    except (UndecodableAudio, AudioTooLong):
        raise
    except av.EOFError as exc:
        raise UndecodableAudio("the file ends before its audio can be read (was the upload cut short?)") from exc
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise UndecodableAudio(f"could not decode the file as audio ({type(exc).__name__})") from exc
    finally:
        # PyAV's resampler graphs are reference cycles, freed only by a collection (faster-whisper
        # #390). They are young, so the young generations suffice: a full collection costs tens of
        # milliseconds in a server process with a large heap, all of it holding the GIL.
        gc.collect(1)
    if not pieces:
        raise UndecodableAudio("the file holds no audio samples")
    audio = np.concatenate(pieces).astype(np.float32, copy=False)
    if audio.size == 0:
        raise UndecodableAudio("the file holds no audio samples")
    return audio


def _frames(container: av.container.InputContainer, stream: av.AudioStream):  # type: ignore[name-defined]
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


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:  # type: ignore[name-defined]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None
