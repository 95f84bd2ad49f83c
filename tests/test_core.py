"""The core without HTTP: samples or files in, a step after transcription, synthesis checks, and slots given back."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT
from fakes import FakeEngines

from engines.base import Segment, TranscriptInfo, TranscriptionOptions
from engines.loader import ModelLoader
from engines.models.registry_files import load_registry
from server.cancel import Cancellation
from server.config import Settings
from server.core import Core
from server.core.requests import Samples, SpeechRequest, TranscribeRequest
from server.core.transcription import StepWork
from server.errors import ApiError
from server.metrics import Metrics


def make_core(tmp_path: Path, engines: FakeEngines | None = None, **changes: object) -> Core:
    settings = Settings(cache_dir=tmp_path / "cache", **changes)  # type: ignore[arg-type]
    registry = load_registry(ROOT / "models.toml", ())
    loader = ModelLoader(registry, engines or FakeEngines(), has_cuda=False)
    return Core(settings, registry, loader, Metrics())


def tone(seconds: float, rate: int, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


async def settled(core: Core) -> None:
    """Keep the loop running until every slot is given back: a worker thread hands its slot back to the
    loop just after its last item, so a test that stopped the loop at once could miss it."""
    for _ in range(500):
        if not any(admission.active for admission in core.admissions.values()):
            return
        await asyncio.sleep(0.01)


def transcribe(core: Core, audio: io.BytesIO | Samples, **options: object) -> tuple[TranscriptInfo, list[Segment]]:
    async def run() -> tuple[TranscriptInfo, list[Segment]]:
        options_ = TranscriptionOptions(**options)  # type: ignore[arg-type]
        found = await core.transcribe(
            TranscribeRequest(model="whisper-1", audio=audio, options=options_), Cancellation()
        )
        await settled(core)
        return found

    return asyncio.run(run())


def test_samples_at_any_rate_are_heard_as_their_length(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    info, segments = transcribe(core, Samples(tone(2.5, 8000), 8000))
    # The fake gives one segment per started second of the 16 kHz audio it was handed.
    assert info.duration == pytest.approx(2.5, abs=0.01)
    assert [s.end for s in segments] == [1.0, 2.0, 2.5]


def test_samples_and_the_same_audio_in_a_file_give_one_transcript(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    audio = tone(3.2, 22050)
    wav = io.BytesIO()
    sf.write(wav, audio, 22050, format="WAV", subtype="PCM_16")
    from_file = transcribe(core, wav)
    from_samples = transcribe(core, Samples(audio, 22050))
    assert from_samples[0].duration == pytest.approx(from_file[0].duration, abs=0.01)
    assert [s.text for s in from_samples[1]] == [s.text for s in from_file[1]]


def test_channels_last_samples_are_mixed_to_one(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    left = tone(1.5, 16000)
    # Opposite channels cancel: the fake hears silence and returns nothing.
    info, segments = transcribe(core, Samples(np.stack([left, -left], axis=1), 16000))
    assert info.duration == pytest.approx(1.5, abs=0.01)
    assert segments == []


@pytest.mark.parametrize(
    ("samples", "rate", "status", "code"),
    [
        (np.array([0.1, np.nan, 0.2], np.float32), 16000, 415, "unsupported_audio"),
        (np.zeros((2, 2, 2), np.float32), 16000, 415, "unsupported_audio"),
        (np.zeros(100, np.float32), 3, 415, "unsupported_audio"),
        (np.zeros(16000 * 11, np.float32), 16000, 400, "audio_too_long"),
    ],
    ids=["not-finite", "three-dimensions", "no-audio-rate", "too-long"],
)
def test_bad_samples_get_the_errors_a_bad_file_gets(
    tmp_path: Path, samples: np.ndarray, rate: int, status: int, code: str
) -> None:
    core = make_core(tmp_path, max_audio_seconds=10)
    with pytest.raises(ApiError) as refused:
        transcribe(core, Samples(samples, rate))
    assert (refused.value.status, refused.value.code) == (status, code)
    assert core.admissions["openai/whisper-1"].active == 0


class Speakers:
    """A step after transcription: it sees the request's audio and labels each segment."""

    def __init__(self) -> None:
        self.heard: list[float] = []

    async def prepare(self, request: TranscribeRequest) -> StepWork | None:
        if not request.options.word_timestamps:
            return None

        def work(audio: np.ndarray, info: TranscriptInfo, segments: Iterator[Segment]) -> Iterator[Segment]:
            self.heard.append(len(audio) / 16000)
            for segment in segments:
                yield replace(segment, speaker="A" if segment.id % 2 == 0 else "B")

        return work


def test_a_step_after_transcription_sees_the_audio_and_changes_the_segments(tmp_path: Path) -> None:
    speakers = Speakers()
    core = make_core(tmp_path)
    core.transcription.steps = (speakers,)
    _, labelled = transcribe(core, Samples(tone(3.0, 16000), 16000), word_timestamps=True)
    assert [s.speaker for s in labelled] == ["A", "B", "A"]
    assert speakers.heard == [pytest.approx(3.0)]
    # A request that does not ask for the step does not get it.
    _, plain = transcribe(core, Samples(tone(3.0, 16000), 16000))
    assert [s.speaker for s in plain] == [None, None, None]
    assert len(speakers.heard) == 1


def test_a_transcript_gives_its_slot_back(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    transcribe(core, Samples(tone(2.0, 16000), 16000))
    admission = core.admissions["openai/whisper-1"]
    assert (admission.active, admission.queued) == (0, 0)


def speak(core: Core, **fields: object) -> bytes:

    async def run() -> bytes:
        speech = await core.synthesize(SpeechRequest(**fields), Cancellation())  # type: ignore[arg-type]
        audio = b"".join([chunk async for chunk in speech.chunks])
        await settled(core)
        return audio

    return asyncio.run(run())


def test_speech_comes_out_at_the_api_rate_as_raw_pcm(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    pcm = speak(core, model="tts-1", input="One two three.", voice="alloy", response_format="pcm")
    # The fake speaks 50 ms per character of the sentence; pcm is 24 kHz 16-bit mono.
    assert len(pcm) / 2 / 24000 == pytest.approx(0.05 * len("One two three."), abs=0.01)
    assert core.admissions["openai/tts-1"].active == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"input": "   "}, "empty_input"),
        ({"speed": 5.0}, "speed_out_of_range"),
        ({"voice": "nobody"}, "voice_not_found"),
        ({"speaker": "nobody"}, "voice_not_found"),
        ({"model": "whisper-1"}, "unsupported_model"),
        ({"response_format": "ogg"}, "invalid_value"),
    ],
)
def test_synthesis_is_refused_before_any_work(tmp_path: Path, fields: dict[str, object], code: str) -> None:
    engines = FakeEngines()
    core = make_core(tmp_path, engines)
    request = {"model": "tts-1", "input": "Hello.", "voice": "alloy", **fields}
    with pytest.raises(ApiError) as refused:
        speak(core, **request)
    assert refused.value.code == code
    assert engines.gate.passed <= 1  # at most the voice's load: nothing was rendered
    assert core.admissions["openai/tts-1"].active == 0


def test_a_speaker_is_found_by_its_number_within_the_voice(tmp_path: Path) -> None:
    core = make_core(tmp_path, FakeEngines(speakers={"en_US-joe-medium": 3}))
    assert speak(core, model="tts-1", input="Hi.", voice="onyx", response_format="pcm", speaker="2")
    with pytest.raises(ApiError) as refused:
        speak(core, model="tts-1", input="Hi.", voice="onyx", response_format="pcm", speaker="3")
    assert refused.value.code == "voice_not_found"
