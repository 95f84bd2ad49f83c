"""Incremental encoders for synthesized speech: feed float32 chunks, get bytes to send."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import cast

import av
import numpy as np
import numpy.typing as npt
import soxr

OUTPUT_RATE = 24000
"""Every format is sent at 24 kHz mono, as the hosted API does (and as Opus accepts)."""


@dataclass(frozen=True)
class AudioFormat:
    name: str
    media_type: str
    streamable: bool
    """False when the format's header needs the total length (sent whole at the end)."""


FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "audio/mpeg", True),
    "opus": AudioFormat("opus", "audio/ogg", True),
    "aac": AudioFormat("aac", "audio/aac", True),
    "flac": AudioFormat("flac", "audio/flac", False),
    "wav": AudioFormat("wav", "audio/wav", True),
    "pcm": AudioFormat("pcm", "audio/pcm", True),
}

# (container, codec, muxer options) for the formats PyAV encodes.
_PYAV = {
    "mp3": ("mp3", "libmp3lame", {}),
    # Ogg pages default to one second; 60 ms pages let each sentence leave at once, at ~4 kbps
    # of page headers (20 ms pages cost 11 kbps, a third of the audio itself).
    "opus": ("ogg", "libopus", {"page_duration": "60000"}),
    "aac": ("adts", "aac", {}),
    "flac": ("flac", "flac", {}),
}


@dataclass(frozen=True)
class Bitrates:
    """Kilobits per second of the lossy formats. At 24 kHz, MP3 is MPEG-2 Layer III: 64 kbps CBR is
    transparent for speech there; Opus is VBR, whose speech sweet spot is 24-32 kbps; AAC is AAC-LC."""

    mp3: int = 64
    opus: int = 32
    aac: int = 64


# Codec options: constant bit rate for MP3 (players estimate lengths from it), VBR for Opus, tuned
# for speech.
_CODEC_OPTIONS = {"mp3": {}, "opus": {"vbr": "on", "application": "voip"}, "aac": {}, "flac": {}}


class Encoder:
    """Resample to 24 kHz and encode chunk by chunk; `push` and `finish` return ready bytes."""

    def __init__(self, format_name: str, input_rate: int, bitrates: Bitrates | None = None) -> None:
        self.format = FORMATS[format_name]
        bitrates = bitrates or Bitrates()
        self._resampler = (
            soxr.ResampleStream(input_rate, OUTPUT_RATE, 1, dtype="float32") if input_rate != OUTPUT_RATE else None
        )
        self._codec: _PyAVCodec | None = None
        self._header_pending = format_name == "wav"
        if format_name in _PYAV:
            container, codec, options = _PYAV[format_name]
            kbps = getattr(bitrates, format_name, None)
            self._codec = _PyAVCodec(
                container,
                codec,
                options,
                seekable=not self.format.streamable,
                kbps=kbps,
                codec_options=_CODEC_OPTIONS[format_name],
            )

    def push(self, audio: np.ndarray) -> bytes:
        samples = self._resample(audio, last=False)
        return self._encode(samples)

    def finish(self) -> bytes:
        tail = self._encode(self._resample(np.zeros(0, dtype=np.float32), last=True))
        if self._codec is not None:
            tail += self._codec.close()
        return tail

    def _resample(self, audio: np.ndarray, last: bool) -> npt.NDArray[np.float32]:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if self._resampler is None:
            return audio
        # soxr is untyped; a stream made with dtype="float32" gives float32 back.
        return cast("npt.NDArray[np.float32]", self._resampler.resample_chunk(audio, last=last))

    def _encode(self, samples: npt.NDArray[np.float32]) -> bytes:
        pcm: npt.NDArray[np.int16] = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
        if self._codec is not None:
            return self._codec.encode(pcm)
        data = pcm.tobytes()
        if self._header_pending:
            self._header_pending = False
            return _open_ended_wav_header() + data
        return data


class _Sink:
    """A write-only file for PyAV; without `seek`, muxers write a stream, never patch back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class _PyAVCodec:
    def __init__(
        self,
        container: str,
        codec: str,
        options: dict[str, str],
        seekable: bool,
        kbps: int | None = None,
        codec_options: dict[str, str] | None = None,
    ) -> None:
        # A seekable target lets FLAC write its total length into STREAMINFO at the end,
        # which libsndfile needs to read the file back; that is why FLAC is sent whole.
        self._target: io.BytesIO | _Sink = io.BytesIO() if seekable else _Sink()
        self._container = av.open(self._target, mode="w", format=container, options=options)
        self._stream: av.AudioStream = self._container.add_stream(  # type: ignore[assignment]
            codec, rate=OUTPUT_RATE, layout="mono", options=codec_options or {}
        )
        if kbps is not None:
            self._stream.codec_context.bit_rate = kbps * 1000
        self._pts = 0

    def encode(self, pcm: npt.NDArray[np.int16]) -> bytes:
        if pcm.size:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = OUTPUT_RATE
            frame.pts = self._pts
            self._pts += pcm.size
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._drain()

    def close(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        if isinstance(self._target, io.BytesIO):
            return self._target.getvalue()
        return self._target.take()

    def _drain(self) -> bytes:
        return b"" if isinstance(self._target, io.BytesIO) else self._target.take()


def _open_ended_wav_header() -> bytes:
    # Sizes of 0xFFFFFFFF mean "until the end of the stream", as the hosted API sends.
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, OUTPUT_RATE, OUTPUT_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )
