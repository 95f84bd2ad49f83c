"""Long audio read window by window: decoded as it is needed, so that hours of it never sit in memory."""

from __future__ import annotations

import gc
import io
from collections.abc import Generator, Iterator
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt

from engines.audio.decode import (
    WHISPER_RATE,
    AudioTooLong,
    UndecodableAudio,
    _declared_seconds,
    _floats,
    _frames,
    undecodable,
)

PROBE_SECONDS = 2.0
"""Audio decoded when a file is checked: enough to tell a broken or mislabelled file."""
QUIET_FRAME = WHISPER_RATE // 10
"""A window ends in the middle of its quietest 0.1 s near the end, so that no word is cut in two."""


def probe(source: BinaryIO, max_seconds: float | None = None) -> float | None:
    """Check that `source` is audio this server decodes: it opens, and its first seconds decode.
    Returns its length as the container declares it (None where it does not say).

    Raises UndecodableAudio, or AudioTooLong when the declared length is over `max_seconds`.
    """
    try:
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            declared = _declared_seconds(container, stream)
            if max_seconds is not None and declared is not None and declared > max_seconds:
                raise AudioTooLong(declared, max_seconds)
            heard = 0.0
            for frame in _frames(container, stream):
                heard += frame.samples / max(1, frame.sample_rate)
                if heard >= PROBE_SECONDS:
                    break
            if heard == 0:
                raise UndecodableAudio("the file holds no audio samples")
    except (UndecodableAudio, AudioTooLong):
        raise
    except (av.EOFError, av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise undecodable(exc) from exc
    finally:
        gc.collect(1)
    return declared


def samples(source: BinaryIO | io.RawIOBase, start: int = 0) -> Iterator[npt.NDArray[np.float32]]:
    """The audio of `source` as 16 kHz mono float32, in pieces, from sample `start` to the end.

    Far into a file, the container is sought to just before `start` and the frames before it are
    dropped by their time stamps; a file that cannot seek is decoded from its start instead.
    """
    try:
        origin = 0.0
        if start > 0:
            origin = _origin(source)
            source.seek(0)
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio("the file has no audio stream")
            stream = container.streams.audio[0]
            position = 0 if start == 0 else _seek(container, stream, start)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=WHISPER_RATE)
            for frame in _frames(container, stream):
                if position < 0:  # the first frame after a seek says where the decoding stands
                    position = round((frame.time - origin) * WHISPER_RATE) if frame.time is not None else 0
                for out in resampler.resample(frame):
                    position = yield from _from(start, position, _floats(out))
            for out in resampler.resample(None):
                position = yield from _from(start, position, _floats(out))
    except (UndecodableAudio, AudioTooLong):
        raise
    except (av.EOFError, av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise undecodable(exc) from exc
    finally:
        gc.collect(1)


def _origin(source: BinaryIO | io.RawIOBase) -> float:
    """The time stamp of the first frame: where sample 0 of a decoding from the start lies (an mp3
    starts after its encoder's delay, for one)."""
    with av.open(source, mode="r", metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        for frame in _frames(container, stream):
            return frame.time or 0.0
    return 0.0


def _seek(container: av.container.InputContainer, stream: av.AudioStream, start: int) -> int:
    """Seek a second before `start`; -1 (found from the next frame) when that worked, else 0."""
    if stream.time_base is None:
        return 0
    try:
        target = max(0.0, start / WHISPER_RATE - 1.0)
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
    except (av.FFmpegError, ValueError, OSError):
        container.seek(0, stream=stream)
        return 0
    return -1


def _from(start: int, position: int, piece: np.ndarray) -> Generator[npt.NDArray[np.float32], None, int]:
    end = position + len(piece)
    if end > start:
        yield piece[max(0, start - position) :]
    return end


def windows(pieces: Iterator[np.ndarray], length: int, search: int) -> Iterator[npt.NDArray[np.float32]]:
    """Cut a stream of samples into windows of at most `length` samples. Each ends in the middle of the
    quietest 0.1 s of its last `search` samples; the last one is whatever is left."""
    held: list[np.ndarray] = []
    count = 0
    for piece in pieces:
        held.append(piece)
        count += len(piece)
        if count < length:
            continue
        buffer = np.concatenate(held)
        while len(buffer) >= length:
            cut = quiet_cut(buffer[:length], search)
            yield buffer[:cut]
            buffer = buffer[cut:]
        held, count = [buffer], len(buffer)
    if count:
        yield np.concatenate(held)


def quiet_cut(audio: np.ndarray, search: int) -> int:
    """Where to end `audio`: the middle of its quietest 0.1 s among the last `search` samples."""
    first = max(0, len(audio) - search)
    region = audio[first:]
    frames = len(region) // QUIET_FRAME
    if frames < 1:
        return len(audio)
    energy = np.square(region[: frames * QUIET_FRAME].astype(np.float64)).reshape(frames, QUIET_FRAME).sum(axis=1)
    quietest = int(np.argmin(energy))
    return first + quietest * QUIET_FRAME + QUIET_FRAME // 2
