"""The Whisper engine in-process: no-speech handling, long-audio windows, VAD timestamps."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from conftest import CLIPS, NO_SPEECH_CLIPS, clip_path
from wer import wer

from engines.audio.decode import WHISPER_RATE, decode
from engines.base import Segment, TranscriptionOptions, full_text
from engines.loader import ModelFiles, ModelLoader
from engines.models.registry_files import load_registry
from engines.whisper import timeline
from engines.whisper.transcriber import WhisperTranscriber
from server.config import PROJECT_ROOT, Settings

GERMAN = "librivox_de_simplicissimus_title.mp3"

pytestmark = pytest.mark.models


def run(transcriber: WhisperTranscriber, audio: np.ndarray, options: TranscriptionOptions) -> tuple[str, list[Segment]]:
    segments = list(transcriber.stream(audio, options)[1])
    return full_text(segments), segments


@pytest.fixture(scope="module")
def base() -> Iterator[WhisperTranscriber]:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    loader = ModelLoader(registry, ModelFiles(Settings.from_env().cache_dir), has_cuda=False)
    yield loader.transcriber(registry.models["openai/whisper-1"])


@pytest.mark.parametrize("name", NO_SPEECH_CLIPS)
def test_no_speech_gives_empty_text(base: WhisperTranscriber, name: str) -> None:
    assert run(base, decode(clip_path(name)), TranscriptionOptions())[0] == ""


def test_audio_without_speech_never_reaches_whisper(base: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the project controls: when VAD hears no speech, Whisper (which would invent
    # "Thank you." or "you" on music, depending on the CPU) is not run at all.
    calls: list[int] = []
    real = base.model.transcribe
    monkeypatch.setattr(base.model, "transcribe", lambda audio, **kw: calls.append(len(audio)) or real(audio, **kw))
    music = decode(clip_path("music_tchaikovsky_sugar_plum_fairy.ogg"))[: 30 * WHISPER_RATE]
    assert run(base, music, TranscriptionOptions()) == ("", [])
    assert calls == []
    run(base, music, TranscriptionOptions(drop_non_speech=False))
    assert calls == [len(music)]


def test_long_audio_is_decoded_in_windows(base: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    audio = decode(clip_path(GERMAN))
    monkeypatch.setattr(timeline, "WINDOW_SECONDS", 25.0)
    text, segments = run(base, audio, TranscriptionOptions(language="de"))
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert segments[-1].end > 60
    assert [s.id for s in segments] == list(range(len(segments)))
    # Windows must not cost accuracy: compare with one pass over the whole clip, on this CPU.
    monkeypatch.setattr(timeline, "WINDOW_SECONDS", 300.0)
    whole, _ = run(base, audio, TranscriptionOptions(language="de"))
    reference = CLIPS[GERMAN]["reference_text"]
    assert wer(reference, text) <= wer(reference, whole) + 0.05
    assert wer(reference, text) <= 0.35  # a sanity bound, with room for other CPUs' kernels


def test_windows_cut_at_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline, "WINDOW_SECONDS", 600.0)
    speech = [(0.0, 290.0), (292.0, 590.0), (591.0, 900.0), (905.0, 1300.0)]
    windows = timeline.windows(1300.0, speech)
    assert windows[0] == (0.0, 590.5)
    assert windows[-1][1] == 1300.0
    assert all(end - start <= 720.0 for start, end in windows)
    assert timeline.windows(100.0, []) == [(0.0, 100.0)]


def test_vad_filter_keeps_original_timestamps(base: WhisperTranscriber) -> None:
    speech = decode(clip_path("jfk_ask_not.flac"))
    padded = np.concatenate([np.zeros(8 * WHISPER_RATE, dtype=np.float32), speech])
    for vad in (False, True):
        text, segments = run(base, padded, TranscriptionOptions(vad_filter=vad, word_timestamps=True))
        assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], text) <= 0.1
        assert segments[0].start >= 7.5, vad
        assert segments[0].words[0].start >= 7.5, vad
