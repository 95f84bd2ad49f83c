"""The Whisper engine in-process: no-speech handling, long-audio windows, VAD timestamps."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from conftest import CLIPS, NO_SPEECH_CLIPS, clip_path
from wer import wer

from engines import transcriber as transcriber_module
from engines.audio_decode import WHISPER_RATE, decode
from engines.loader import ModelLoader
from engines.registry import load_registry
from engines.transcriber import Transcriber, TranscriptionOptions, _windows
from server.config import PROJECT_ROOT, Settings

GERMAN = "librivox_de_simplicissimus_title.mp3"


@pytest.fixture(scope="module")
def base() -> Iterator[Transcriber]:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    loader = ModelLoader(registry, Settings.from_env().cache_dir, has_cuda=False)
    yield loader.transcriber(registry.models["openai/whisper-1"])


@pytest.mark.parametrize("name", NO_SPEECH_CLIPS)
def test_no_speech_gives_empty_text(base: Transcriber, name: str) -> None:
    result = base.transcribe(decode(clip_path(name)), TranscriptionOptions())
    assert result.text == ""


def test_without_the_filter_whisper_invents_speech(base: Transcriber) -> None:
    # Why the filter exists: the first 30 s of the music clip come back as "You" without it.
    music = decode(clip_path("music_tchaikovsky_sugar_plum_fairy.ogg"))[: 30 * WHISPER_RATE]
    assert base.transcribe(music, TranscriptionOptions(drop_non_speech=False)).text != ""
    assert base.transcribe(music, TranscriptionOptions()).text == ""


def test_long_audio_is_decoded_in_windows(base: Transcriber, monkeypatch: pytest.MonkeyPatch) -> None:
    audio = decode(clip_path(GERMAN))
    monkeypatch.setattr(transcriber_module, "WINDOW_SECONDS", 25.0)
    windowed = base.transcribe(audio, TranscriptionOptions(language="de"))
    starts = [s.start for s in windowed.segments]
    assert starts == sorted(starts)
    assert windowed.segments[-1].end > 60
    assert [s.id for s in windowed.segments] == list(range(len(windowed.segments)))
    assert wer(CLIPS[GERMAN]["reference_text"], windowed.text) <= 0.2


def test_windows_cut_at_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcriber_module, "WINDOW_SECONDS", 600.0)
    speech = [(0.0, 290.0), (292.0, 590.0), (591.0, 900.0), (905.0, 1300.0)]
    windows = _windows(1300.0, speech)
    assert windows[0] == (0.0, 590.5)
    assert windows[-1][1] == 1300.0
    assert all(end - start <= 720.0 for start, end in windows)
    assert _windows(100.0, []) == [(0.0, 100.0)]


def test_vad_filter_keeps_original_timestamps(base: Transcriber) -> None:
    speech = decode(clip_path("jfk_ask_not.flac"))
    padded = np.concatenate([np.zeros(8 * WHISPER_RATE, dtype=np.float32), speech])
    for vad in (False, True):
        result = base.transcribe(padded, TranscriptionOptions(vad_filter=vad, word_timestamps=True))
        assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], result.text) == 0
        assert result.segments[0].start >= 7.5, vad
        assert result.segments[0].words[0].start >= 7.5, vad
