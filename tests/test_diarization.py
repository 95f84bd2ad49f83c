"""Telling speakers apart end to end: the real models, a real server, the official `openai` client, on a
conversation of three real people built from the test clips. (The fields, errors and shapes on fake
engines: test_diarization_api.py; the diarizer's quality in-process: test_diarize_quality.py.)"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from functools import cache

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from conftest import clip_path
from wer import normalise

from engines.audio.decode import WHISPER_RATE, decode

pytestmark = pytest.mark.models

# (clip, start s, end s, who): each turn, with 0.5 s of silence around it.
TURNS = [
    ("librivox_sense_and_sensibility_0880.mp3", 0.0, None, "reader"),
    ("jfk_ask_not.flac", 3.15, 7.6, "kennedy"),
    ("ljspeech_lj050_0131.flac", 0.0, None, "linda"),
    ("librivox_sense_and_sensibility_0930.webm", 0.0, None, "reader"),
]
KENNEDY_ELSEWHERE = ("jfk_ask_not.flac", 8.1, 10.9)
"""Another part of Kennedy's speech than the conversation's: his known speaker clip."""


def cut(clip: str, start: float, end: float | None) -> np.ndarray:
    audio = decode(clip_path(clip))
    return audio[int(start * WHISPER_RATE) : None if end is None else int(end * WHISPER_RATE)]


def wav(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, audio, WHISPER_RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


@cache
def conversation() -> tuple[bytes, list[tuple[float, float, str]]]:
    pause = np.zeros(WHISPER_RATE // 2, np.float32)
    pieces, turns, at = [pause], [], 0.5
    for clip, start, end, who in TURNS:
        audio = cut(clip, start, end)
        turns.append((at, at + len(audio) / WHISPER_RATE, who))
        pieces += [audio, pause]
        at += len(audio) / WHISPER_RATE + 0.5
    return wav(np.concatenate(pieces)), turns


def who_spoke(turns: list[tuple[float, float, str]], start: float, end: float) -> str | None:
    middle = (start + end) / 2
    return next((who for a, b, who in turns if a - 0.3 <= middle <= b + 0.3), None)


@pytest.fixture(scope="module")
def sdk(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/oai/v1", api_key="unused", max_retries=0, timeout=180) as client:
        yield client


def test_the_openai_client_gets_each_turn_under_its_speakers_name(sdk: openai.OpenAI, client: httpx.Client) -> None:
    audio, turns = conversation()
    reference = "data:audio/wav;base64," + base64.b64encode(wav(cut(*KENNEDY_ELSEWHERE))).decode("ascii")
    result = sdk.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize",
        file=("talk.wav", audio, "audio/wav"),
        response_format="diarized_json",
        chunking_strategy="auto",
        known_speaker_names=["kennedy"],
        known_speaker_references=[reference],
    )
    assert type(result).__name__ == "TranscriptionDiarized"
    # Each real person is one speaker: the reader in both their turns, Kennedy by his name, and the
    # others lettered in order of first appearance.
    names = {"reader": "A", "kennedy": "kennedy", "linda": "B"}
    spoken = [0.0, 0.0]
    for segment in result.segments:
        who = who_spoke(turns, segment.start, segment.end)
        assert who is not None, segment
        seconds = segment.end - segment.start
        spoken[segment.speaker == names[who]] += seconds
    assert spoken[1] / sum(spoken) >= 0.8, (spoken, [(s.start, s.end, s.speaker, s.text) for s in result.segments])
    # Telling speakers apart neither loses nor repeats words: the same words as a plain transcript.
    plain = client.post(
        "/oai/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("talk.wav", audio, "audio/wav")}
    ).json()["text"]
    assert normalise(result.text) == normalise(plain)
    assert result.duration == pytest.approx(turns[-1][1] + 0.5, abs=0.05)


def test_streamed_segments_carry_the_speakers(sdk: openai.OpenAI) -> None:
    audio, turns = conversation()
    with sdk.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize",
        file=("talk.wav", audio, "audio/wav"),
        response_format="diarized_json",
        stream=True,
    ) as stream:
        events = list(stream)
    kinds = [type(e).__name__ for e in events]
    assert kinds[-1] == "TranscriptionTextDoneEvent" and set(kinds[:-1]) == {"TranscriptionTextSegmentEvent"}
    segments = events[:-1]
    first = {who_spoke(turns, e.start, e.end): e.speaker for e in reversed(segments)}  # type: ignore[union-attr]
    assert first["reader"] == "A" and len(set(first.values())) == 3, first
