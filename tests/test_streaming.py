"""Streaming on both surfaces: SSE transcripts, SSE speech, audio as it is produced, hang-ups."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from audio_tools import read_audio
from conftest import clip_path, sse_events

pytestmark = pytest.mark.models

PARAGRAPH = (
    "The committee met on Tuesday morning to review the quarterly results. Revenue grew in every region, "
    "although costs rose faster than expected in the second half. The chair asked each team to explain "
    "the variance, and to propose two concrete savings before the next meeting. After a short break, the "
    "group discussed hiring plans for the coming year. Several members argued for slower growth. Others "
    "pointed out that demand was still rising. The meeting closed with a vote to revisit the question in March."
)


@pytest.mark.parametrize(
    ("url", "clip", "min_events"),
    [
        ("/v1/inference/audio/transcribe", "librivox_de_simplicissimus_title.mp3", 4),
        ("/oai/v1/audio/transcriptions", "jfk_ask_not.flac", 2),
    ],
)
def test_transcript_sse_matches_the_plain_transcript(
    client: httpx.Client, url: str, clip: str, min_events: int
) -> None:
    files = {"file": (clip, clip_path(clip).read_bytes())}
    streamed = client.post(url, data={"model": "whisper-1", "stream": "true"}, files=files)
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streamed)
    types = [e["type"] for e in events]
    assert types[-1] == "transcript.text.done"
    assert types[:-1] == ["transcript.text.delta"] * (len(types) - 1) and len(types) >= min_events
    plain = client.post(url, data={"model": "whisper-1", "response_format": "json"}, files=files).json()
    plain_text = plain["data"]["text"] if "data" in plain else plain["text"]
    assert events[-1]["text"] == plain_text
    assert "".join(e["delta"] for e in events[:-1]).strip() == plain_text


def test_transcript_stream_errors_come_before_the_stream(client: httpx.Client) -> None:
    response = client.post(
        "/oai/v1/audio/transcriptions",
        data={"model": "whisper-1", "stream": "true"},
        files={"file": ("x.txt", b"not audio at all" * 10)},
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_audio"


@pytest.mark.parametrize("url", ["/oai/v1/audio/speech", "/v1/inference/audio/synthesize"])
def test_speech_sse_events(client: httpx.Client, url: str) -> None:
    body = {
        "model": "tts-1",
        "voice": "alloy",
        "input": PARAGRAPH[:200],
        "response_format": "pcm",
        "stream_format": "sse",
    }
    response = client.post(url, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert [e["type"] for e in events] == ["speech.audio.delta"] * (len(events) - 1) + ["speech.audio.done"]
    assert len(events) >= 3
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert len(audio) / 48000 > 5.0
    assert "usage" not in events[-1]


def test_speech_sse_in_mp3_decodes(client: httpx.Client) -> None:
    body = {
        "model": "tts-1",
        "voice": "nova",
        "input": "One. Two. Three.",
        "response_format": "mp3",
        "stream_format": "sse",
    }
    events = sse_events(client.post("/oai/v1/audio/speech", json=body))
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert read_audio(audio).duration > 1.0


@pytest.mark.parametrize("response_format", ["pcm", "mp3", "opus", "aac", "wav"])
def test_audio_arrives_sentence_by_sentence(client: httpx.Client, response_format: str) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": PARAGRAPH, "response_format": response_format}
    started = time.perf_counter()
    arrivals: list[float] = []
    received = bytearray()
    with client.stream("POST", "/v1/inference/audio/synthesize", json=body) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            if chunk:
                arrivals.append(time.perf_counter() - started)
                received += chunk
    total = arrivals[-1]
    # Streaming shows as bytes arriving in several bursts spread over the work, the first
    # long before the last (the numbers themselves are measured by scripts/bench/serving.py).
    assert len(arrivals) >= 5
    assert arrivals[0] < total / 2
    decoded = read_audio(bytes(received)) if response_format != "pcm" else None
    assert decoded is None or decoded.duration > 20


def test_flac_arrives_whole(client: httpx.Client) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": "One sentence. And another.", "response_format": "flac"}
    response = client.post("/v1/inference/audio/synthesize", json=body)
    assert read_audio(response.content).duration > 1.0


def test_bad_requests_never_start_a_stream(client: httpx.Client) -> None:
    for change in ({"voice": "nobody"}, {"speed": 7}, {"response_format": "ogg"}, {"stream_format": "ws"}):
        body = {"model": "tts-1", "voice": "alloy", "input": PARAGRAPH, **change}
        with client.stream("POST", "/oai/v1/audio/speech", json=body) as response:
            assert response.status_code == 400, change
            assert json.loads(response.read())["error"]["param"] in change
