"""Decoding uploads: every dev clip, the length limit, and what is not audio."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import CLIPS, ROOT, clip_path
from faster_whisper import decode_audio

from engines.audio.decode import WHISPER_RATE, AudioTooLong, UndecodableAudio, decode, from_samples


@pytest.mark.parametrize("name", list(CLIPS))
def test_dev_clips_decode_to_16k_mono(name: str) -> None:
    audio = decode(clip_path(name))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / WHISPER_RATE == pytest.approx(CLIPS[name]["duration_s"], abs=0.15)


@pytest.mark.parametrize("name", list(CLIPS))
def test_samples_are_exactly_faster_whispers(name: str) -> None:
    # The server hears what faster-whisper in-process hears from the same file, to the last bit.
    assert np.array_equal(decode(clip_path(name)), decode_audio(str(clip_path(name))))


def test_file_objects_decode_too() -> None:
    with open(clip_path("pocketsphinx_cards_002.wav"), "rb") as f:
        assert len(decode(f)) == pytest.approx(1.96 * WHISPER_RATE, abs=160)


def test_length_limit_from_the_header() -> None:
    with pytest.raises(AudioTooLong):
        decode(clip_path("music_tchaikovsky_sugar_plum_fairy.ogg"), max_seconds=60)


def test_length_limit_while_decoding() -> None:
    # A raw ADTS stream declares no duration; the limit still holds while decoding.
    import tempfile

    from audio_tools import convert

    with tempfile.TemporaryDirectory() as folder:
        path = convert(clip_path("jfk_ask_not.flac"), Path(folder) / "x.aac", "adts", "aac", 16000)
        assert len(decode(path, max_seconds=20)) > 10 * WHISPER_RATE
        with pytest.raises(AudioTooLong):
            decode(path, max_seconds=5)


@pytest.mark.parametrize("data", [b"", b"not audio at all" * 100, bytes(range(256)) * 40])
def test_non_audio_is_undecodable(data: bytes) -> None:
    with pytest.raises(UndecodableAudio):
        decode(io.BytesIO(data))


def _tone_flac(path: Path, seconds: float, header_length: bool = True) -> Path:
    """A quiet tone (it compresses poorly enough to be real work, well enough to stay small)."""
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="FLAC")
    if not header_length:
        data = bytearray(path.read_bytes())
        data[21] &= 0xF0  # STREAMINFO's total-samples field, cleared as a piped encoder leaves it
        data[22:26] = b"\0\0\0\0"
        path.write_bytes(bytes(data))
    return path


def test_a_refusal_reports_the_real_or_the_least_length(tmp_path: Path) -> None:
    with pytest.raises(AudioTooLong, match=r"lasts 120 s, longer than the 60 s"):
        decode(_tone_flac(tmp_path / "a.flac", 120), max_seconds=60)
    with pytest.raises(AudioTooLong, match=r"lasts at least 6\d s, longer than the 60 s"):
        decode(_tone_flac(tmp_path / "b.flac", 120, header_length=False), max_seconds=60)


PEAK_SCRIPT = """
import resource, sys
from pathlib import Path
from engines.audio.decode import decode
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
audio = decode(Path(sys.argv[1]), max_seconds=float(sys.argv[2]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, audio.nbytes)
"""


@pytest.mark.parametrize("header_length", [True, False], ids=["length in header", "no length in header"])
def test_decoding_holds_the_audio_once(tmp_path: Path, header_length: bool) -> None:
    # Five minutes under a four-hour limit: the decoded audio is 19 MB, and it must cost that once,
    # not once in pieces and again joined (nor the limit's 900 MB reserved up front).
    path = _tone_flac(tmp_path / "five.flac", 300, header_length)
    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path), str(4 * 3600)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    grown, decoded = map(int, result.stdout.split())
    assert decoded == pytest.approx(300 * WHISPER_RATE * 4, rel=0.01)
    assert grown < 1.4 * decoded, (grown, decoded)


@pytest.mark.parametrize(("dtype", "scale", "offset"), [("<i2", 32768, 0), ("<i4", 2**31, 0), ("u1", 128, 128)])
def test_integer_pcm_samples_are_the_same_audio_as_floats(dtype: str, scale: int, offset: int) -> None:
    t = np.arange(16000) / 16000
    wave = 0.5 * np.sin(2 * np.pi * 220 * t)
    pcm = np.round(wave * (scale - 1) + offset).astype(dtype)
    stereo = np.stack([pcm, pcm], axis=1)
    heard = from_samples(stereo, 16000)
    assert heard.dtype == np.float32 and heard.shape == (16000,)
    assert np.max(np.abs(heard - wave)) < max(2 / scale, 1e-7)  # a step of the PCM, or float32's own
