"""Decoding uploads: every dev clip, the length limit, and what is not audio."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import CLIPS, clip_path

from engines.audio_decode import WHISPER_RATE, AudioTooLong, UndecodableAudio, decode


@pytest.mark.parametrize("name", list(CLIPS))
def test_dev_clips_decode_to_16k_mono(name: str) -> None:
    audio = decode(clip_path(name))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / WHISPER_RATE == pytest.approx(CLIPS[name]["duration_s"], abs=0.15)


def test_file_objects_decode_too() -> None:
    with open(clip_path("pocketsphinx_cards_002.wav"), "rb") as f:
        assert len(decode(f)) == pytest.approx(1.96 * WHISPER_RATE, abs=160)


def test_length_limit_from_the_header() -> None:
    with pytest.raises(AudioTooLong):
        decode(clip_path("music_tchaikovsky_sugar_plum_fairy.ogg"), max_seconds=60)


def test_length_limit_while_decoding() -> None:
    # A raw ADTS stream declares no duration; the limit still holds while decoding.
    import tempfile
    from pathlib import Path

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
