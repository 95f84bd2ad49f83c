"""The streaming encoders: every format decodes back to 24 kHz mono of the same length."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from audio_tools import read_audio

from engines.audio.encode import FORMATS, OUTPUT_RATE, Encoder

PIPER_RATE = 22050


def encode_all(format_name: str, audio: np.ndarray, input_rate: int) -> bytes:
    encoder = Encoder(format_name, input_rate)
    return encoder.push(audio) + encoder.finish()


def tone(seconds: float, rate: int = PIPER_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


@pytest.mark.parametrize("name", ["mp3", "opus", "aac", "flac", "wav"])
def test_round_trip_keeps_duration(name: str) -> None:
    data = encode_all(name, tone(5.0), PIPER_RATE)
    decoded = read_audio(data)
    assert decoded.channels == 1
    assert decoded.sample_rate == (48000 if name == "opus" else OUTPUT_RATE)
    assert decoded.duration == pytest.approx(5.0, rel=0.02)


@pytest.mark.parametrize("name", ["mp3", "opus", "aac", "flac", "wav"])
def test_codec_padding_is_bounded(name: str) -> None:
    # MP3 and ADTS AAC cannot carry their encoder delay in a streamed file, so a
    # decoder plays up to two frames of priming/padding: at most ~90 ms at 24 kHz.
    decoded = read_audio(encode_all(name, tone(1.0), PIPER_RATE))
    assert 1.0 - 0.01 <= decoded.duration <= 1.0 + 0.09


def test_pcm_is_24khz_int16() -> None:
    data = encode_all("pcm", tone(2.0), PIPER_RATE)
    samples = np.frombuffer(data, "<i2")
    assert len(samples) == pytest.approx(2 * OUTPUT_RATE, abs=2)
    assert 0.35 * 32767 < np.abs(samples).max() < 0.45 * 32767


def test_wav_and_flac_read_with_libsndfile() -> None:
    for name in ("wav", "flac"):
        samples, rate = sf.read(io.BytesIO(encode_all(name, tone(1.5), PIPER_RATE)))
        assert rate == OUTPUT_RATE
        assert len(samples) / rate == pytest.approx(1.5, rel=0.02)


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.streamable])
def test_streamable_formats_emit_bytes_per_chunk(name: str) -> None:
    encoder = Encoder(name, PIPER_RATE)
    sizes = [len(encoder.push(tone(1.0))) for _ in range(3)]
    tail = encoder.finish()
    assert all(size > 0 for size in sizes), sizes
    assert isinstance(tail, bytes)


def test_streamed_chunks_concatenate_to_a_valid_file() -> None:
    for name in ("mp3", "opus", "aac", "wav"):
        encoder = Encoder(name, PIPER_RATE)
        data = b"".join(encoder.push(tone(1.5)) for _ in range(4)) + encoder.finish()
        assert read_audio(data).duration == pytest.approx(6.0, rel=0.02), name


def test_flac_is_sent_whole_at_the_end() -> None:
    encoder = Encoder("flac", PIPER_RATE)
    assert encoder.push(tone(1.0)) == b""
    assert read_audio(encoder.finish()).duration == pytest.approx(1.0, rel=0.02)


def test_empty_audio_still_gives_a_valid_wav_header() -> None:
    data = encode_all("wav", np.zeros(0, dtype=np.float32), PIPER_RATE)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
