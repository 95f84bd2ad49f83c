"""What the real models do with no speech and with VAD (the serving mechanics are in test_serving)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import NO_SPEECH_CLIPS, clip_path

pytestmark = pytest.mark.models

TRANSCRIBE = "/v1/inference/audio/transcribe"
GERMAN = "librivox_de_simplicissimus_title.mp3"


@pytest.mark.parametrize("name", NO_SPEECH_CLIPS)
def test_no_speech_clips_transcribe_to_empty_text(client: httpx.Client, name: str) -> None:
    with open(clip_path(name), "rb") as f:
        response = client.post(
            TRANSCRIBE, data={"model": "whisper-1", "response_format": "verbose_json"}, files={"file": (name, f)}
        )
    assert response.status_code == 200
    assert response.json()["data"]["text"] == ""
    assert response.json()["data"]["segments"] == []


def test_vad_filter_per_request_keeps_original_timestamps(client: httpx.Client, tmp_path: Path) -> None:
    audio, rate = sf.read(clip_path("jfk_ask_not.flac"))
    padded = tmp_path / "padded.wav"
    sf.write(padded, np.concatenate([np.zeros((rate * 8, audio.shape[1])), audio]), rate)
    response = client.post(
        TRANSCRIBE,
        data={"model": "whisper-1", "response_format": "verbose_json", "vad_filter": "true"},
        files={"file": ("padded.wav", padded.read_bytes())},
    )
    segments = response.json()["data"]["segments"]
    assert segments[0]["start"] >= 7.5
    assert response.json()["data"]["duration"] == pytest.approx(19.0, abs=0.1)
