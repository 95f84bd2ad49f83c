"""Telling speakers apart, on fake engines: the form fields of both surfaces, their errors, the shapes
(`diarized_json`, speakers in `verbose_json`, SRT and WebVTT), streamed segments, known speakers, the
`openai` client's types, and jobs that keep a speaker's name across windows. The fake diarizer hears
each tone as a speaker (tests/fakes.py); the real one is in test_diarization.py."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
import sqlalchemy as sa
from conftest import sse_events
from fakes import LOOPBACK_TLS, FastServer

from engines.base import TranscriptionOptions
from server.jobs.store import JobStore, Speakers
from server.testing import wait_for

RATE = 16000
NATIVE = "/v1/inference/audio/transcribe"
OPENAI = "/oai/v1/audio/transcriptions"
JOBS = "/v1/inference/audio/jobs"


def tones(*parts: tuple[float, float]) -> bytes:
    """A WAV of (seconds, Hz) tones one after another; 0 Hz is silence."""
    pieces = []
    for seconds, hz in parts:
        t = np.arange(int(seconds * RATE)) / RATE
        pieces.append((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32) if hz else np.zeros(len(t), np.float32))
    out = io.BytesIO()
    sf.write(out, np.concatenate(pieces), RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


def data_url(audio: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(audio).decode("ascii")


def one_known(reference: str) -> dict[str, str]:
    return {"diarize": "true", "known_speaker_names[]": "a", "known_speaker_references[]": reference}


TWO = tones((3.0, 300), (3.0, 600))
"""Speaker A for 3 s, then B for 3 s (the fake transcriber gives two words a second)."""


def post(
    c: httpx.Client, route: str, audio: bytes = TWO, data: dict[str, Any] | None = None, **fields: Any
) -> httpx.Response:
    form = {"model": "whisper-1", **(data or {}), **fields}
    return c.post(route, data=form, files={"file": ("talk.wav", audio, "audio/wav")})


def test_diarize_true_marks_every_segment_and_word_with_its_speaker(fast_client: httpx.Client) -> None:
    response = post(fast_client, NATIVE, diarize="true", response_format="verbose_json")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    speakers = [(round(w["start"], 1), w["speaker"]) for w in data["words"]]
    assert speakers == [(t / 2, "A" if t < 6 else "B") for t in range(12)]
    assert [s["speaker"] for s in data["segments"]] == ["A", "A", "A", "B", "B", "B"]
    # Without the field, no speakers.
    both = {"timestamp_granularities[]": ["segment", "word"]}
    plain = post(fast_client, NATIVE, data=both, response_format="verbose_json").json()["data"]
    assert "speaker" not in plain["segments"][0] and "speaker" not in plain["words"][0]


def test_a_segment_is_cut_where_the_speaker_changes(fast_client: httpx.Client) -> None:
    # The second second is A's first half and B's second half: its two words go to different speakers.
    audio = tones((1.5, 300), (2.5, 600))
    data = post(fast_client, NATIVE, audio, diarize="true", response_format="verbose_json").json()["data"]
    cut = [(s["start"], s["end"], s["speaker"], s["text"].strip()) for s in data["segments"]]
    assert cut[1] == (1.0, 1.5, "A", "charlie") and cut[2] == (1.5, 2.0, "B", "delta")


def test_diarized_json_has_openai_shape(fast_client: httpx.Client) -> None:
    response = post(fast_client, OPENAI, model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "transcribe" and body["duration"] == 6.0
    assert body["usage"] == {"type": "duration", "seconds": 6}
    segments = body["segments"]
    assert [s["id"] for s in segments] == [f"seg_{i}" for i in range(len(segments))]
    assert {s["type"] for s in segments} == {"transcript.text.segment"}
    assert [s["speaker"] for s in segments] == ["A", "A", "A", "B", "B", "B"]
    assert body["text"] == "".join(s["text"] for s in segments).strip()
    assert set(segments[0]) == {"type", "id", "start", "end", "text", "speaker"}


def test_the_diarize_model_with_json_gives_the_plain_transcript(fast_client: httpx.Client) -> None:
    body = post(fast_client, OPENAI, model="gpt-4o-transcribe-diarize", response_format="json").json()
    assert set(body) == {"text", "usage"} and body["text"]


def test_known_speakers_are_named_and_the_others_lettered(fast: FastServer, fast_client: httpx.Client) -> None:
    audio = tones((2.0, 300), (2.0, 600), (2.0, 900))
    data = {
        "model": "gpt-4o-transcribe-diarize",
        "response_format": "diarized_json",
        "known_speaker_names[]": ["agent", "customer"],
        "known_speaker_references[]": [data_url(tones((3.0, 600))), data_url(tones((2.5, 900)))],
    }
    response = post(fast_client, OPENAI, audio, data)
    assert response.status_code == 200, response.text
    assert [s["speaker"] for s in response.json()["segments"]] == ["A", "A", "agent", "agent", "customer", "customer"]
    known = fast.engines.diarizing.heard[-1].known
    assert [(k.name, float(k.voice[0])) for k in known] == [("agent", 600.0), ("customer", 900.0)]


def test_speaker_counts_reach_the_diarizer(fast: FastServer, fast_client: httpx.Client) -> None:
    response = post(fast_client, NATIVE, diarize="true", min_speakers="2", max_speakers="3")
    assert response.status_code == 200, response.text
    options = fast.engines.diarizing.heard[-1]
    assert (options.num_speakers, options.min_speakers, options.max_speakers) == (None, 2, 3)
    post(fast_client, NATIVE, diarize="true", num_speakers="2")
    assert fast.engines.diarizing.heard[-1].num_speakers == 2


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"model": "gpt-4o-transcribe-diarize", "prompt": "Hi"}, "prompt", "Prompt is not supported"),
        (
            {"model": "gpt-4o-transcribe-diarize", "response_format": "verbose_json"},
            "response_format",
            "not compatible with model",
        ),
        (
            {"model": "gpt-4o-transcribe-diarize", "timestamp_granularities[]": "word", "response_format": "json"},
            "timestamp_granularities",
            "timestamp_granularities",
        ),
        ({"response_format": "diarized_json"}, "response_format", "needs a diarization model"),
        ({"known_speaker_names[]": "agent"}, "known_speaker_names", "need a diarization model"),
        (
            {"diarize": "true", "known_speaker_names[]": ["a", "b"], "known_speaker_references[]": "data:,x"},
            "known_speaker_references",
            "give one clip per name",
        ),
        (
            one_known("https://x/a.wav"),
            "known_speaker_references",
            "must be a data URL",
        ),
        (
            one_known("data:audio/wav;base64,@@"),
            "known_speaker_references",
            "not valid base64",
        ),
        (
            one_known(data_url(tones((1.0, 300)))),
            "known_speaker_references",
            "is 1.0 s long",
        ),
        (
            one_known(data_url(tones((12.0, 300)))),
            "known_speaker_references",
            "references must be 2-10 s",
        ),
        (
            one_known(data_url(b"not audio")),
            "known_speaker_references",
            "not audio this server reads",
        ),
        (
            {
                "diarize": "true",
                "known_speaker_names[]": ["a", "b", "c", "d", "e"],
                "known_speaker_references[]": [data_url(tones((2.0, 300)))] * 5,
            },
            "known_speaker_references",
            "At most 4",
        ),
        (
            {
                "diarize": "true",
                "known_speaker_names[]": ["a", "a"],
                "known_speaker_references[]": [data_url(tones((2.0, 300)))] * 2,
            },
            "known_speaker_names",
            "a name twice",
        ),
        ({"diarize": "maybe"}, "diarize", "true or false"),
        ({"diarize": "true", "num_speakers": "0"}, "num_speakers", "between 1 and 32"),
        ({"diarize": "true", "max_speakers": "two"}, "max_speakers", "whole number"),
        ({"diarize": "true", "min_speakers": "3", "max_speakers": "2"}, "min_speakers", "more than"),
        ({"diarize": "true", "chunking_strategy": "fixed"}, "chunking_strategy", "must be 'auto'"),
        ({"diarize": "true", "chunking_strategy": '{"type": "server_vad", "x": 1}'}, "chunking_strategy", "VAD"),
    ],
)
def test_bad_diarization_fields_get_a_clear_400(
    fast_client: httpx.Client, fields: dict[str, Any], param: str, words: str
) -> None:
    response = post(fast_client, OPENAI, data={"model": "whisper-1", **fields})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error


def test_the_diarize_model_needs_a_chunking_strategy_past_30_s(fast_client: httpx.Client) -> None:
    audio = tones((31.0, 300))
    refused = post(fast_client, OPENAI, audio, model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("chunking_strategy is required for diarization models")
    for strategy in ("auto", json.dumps({"type": "server_vad", "silence_duration_ms": 200})):
        fine = post(
            fast_client,
            OPENAI,
            audio,
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            chunking_strategy=strategy,
        )
        assert fine.status_code == 200, fine.text
    # diarize=true on any Whisper has no such limit.
    assert post(fast_client, NATIVE, audio, diarize="true").status_code == 200


def test_diarized_json_streams_segments_then_done_and_no_deltas(fast_client: httpx.Client) -> None:
    response = post(
        fast_client, OPENAI, model="gpt-4o-transcribe-diarize", response_format="diarized_json", stream="true"
    )
    events = sse_events(response)
    assert [e["type"] for e in events] == ["transcript.text.segment"] * 6 + ["transcript.text.done"]
    assert [e["speaker"] for e in events[:-1]] == ["A", "A", "A", "B", "B", "B"]
    assert [e["id"] for e in events[:-1]] == [f"seg_{i}" for i in range(6)]
    assert events[-1]["text"] == "".join(e["text"] for e in events[:-1]).strip()
    # Other formats still stream deltas.
    plain = sse_events(post(fast_client, OPENAI, model="gpt-4o-transcribe-diarize", stream="true"))
    assert {e["type"] for e in plain} == {"transcript.text.delta", "transcript.text.done"}


def test_subtitles_mark_the_speakers(fast_client: httpx.Client) -> None:
    vtt = post(fast_client, NATIVE, diarize="true", response_format="vtt").text
    cues = vtt.split("\n\n")[1:]
    assert cues[0].split("\n")[1].startswith("<v A>") and cues[-1].split("\n")[1].startswith("<v B>")
    srt = post(fast_client, NATIVE, diarize="true", response_format="srt").text
    blocks = [b for b in srt.split("\n\n") if b.strip()]
    assert blocks[0].split("\n")[2].startswith("A: ") and blocks[-1].split("\n")[2].startswith("B: ")
    assert "<v " not in post(fast_client, NATIVE, response_format="vtt").text


def test_the_openai_client_parses_diarized_json_and_streams_segments(fast: FastServer) -> None:
    fast.engines.gate.open()
    with (
        httpx.Client(verify=LOOPBACK_TLS) as http,
        openai.OpenAI(base_url=f"{fast.url}/oai/v1", api_key="unused", http_client=http) as client,
    ):
        result = client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize",
            file=("talk.wav", TWO),
            response_format="diarized_json",
            chunking_strategy="auto",
        )
        assert type(result).__name__ == "TranscriptionDiarized"
        assert [s.speaker for s in result.segments] == ["A", "A", "A", "B", "B", "B"]
        assert result.segments[0].type == "transcript.text.segment" and result.duration == 6.0
        with client.audio.transcriptions.create(
            model="gpt-4o-transcribe-diarize",
            file=("talk.wav", TWO),
            response_format="diarized_json",
            chunking_strategy="auto",
            stream=True,
        ) as stream:
            events = list(stream)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["TranscriptionTextSegmentEvent"] * 6 + ["TranscriptionTextDoneEvent"]
    assert events[3].speaker == "B"  # type: ignore[union-attr]


def test_a_job_keeps_each_speakers_name_across_its_windows(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(jobs_window_s=5.0)
    # 3 windows of about 5 s: A speaks in the first and the last, B in the middle, C only at the end.
    audio = tones((4.0, 300), (1.0, 0), (4.0, 600), (1.0, 0), (2.0, 300), (2.0, 900))
    reference = data_url(tones((2.0, 600)))
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        response = post(
            c,
            JOBS,
            audio,
            data={"known_speaker_names[]": "bo", "known_speaker_references[]": reference},
            model="whisper-1",
            diarize="true",
            response_format="diarized_json",
        )
        assert response.status_code == 202, response.text
        job = response.json()["data"]
        assert job["diarize"] is True

        def done() -> dict[str, Any] | None:
            found: dict[str, Any] = c.get(f"{JOBS}/{job['id']}").json()["data"]
            return found if found["state"] in ("succeeded", "failed") else None

        assert wait_for(done, 20, message="the job")["state"] == "succeeded"
        body = c.get(f"{JOBS}/{job['id']}/result").json()["data"]
    # Windows are cut in the silences, so segments start at whole seconds from a cut somewhere in one.
    said = [(s["start"], s["speaker"]) for s in body["segments"]]
    assert {speaker for start, speaker in said if start < 3.5} == {"A"}
    assert {speaker for start, speaker in said if 5.2 <= start < 8.5} == {"bo"}
    assert {speaker for start, speaker in said if 10.2 <= start < 11.5} == {"A"}
    assert {speaker for start, speaker in said if start >= 12.3} == {"B"}
    # Windows after the first knew the speakers found before them.
    known = [[k.name for k in options.known] for options in running.engines.diarizing.heard]
    assert known[0] == ["bo"] and known[-1][:2] == ["bo", "A"]


def test_a_job_checks_its_known_speakers_when_it_is_submitted(fast_client: httpx.Client) -> None:
    response = post(
        fast_client,
        JOBS,
        data={"known_speaker_names[]": "a", "known_speaker_references[]": data_url(tones((1.0, 300)))},
        model="whisper-1",
        diarize="true",
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "known_speaker_references"


def test_a_jobs_database_made_before_diarization_gets_its_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    JobStore(url).close()
    old = sa.create_engine(url)
    with old.begin() as db:
        db.execute(sa.text("ALTER TABLE audio_jobs DROP COLUMN speakers"))
    old.dispose()
    store = JobStore(url)
    try:
        speakers = Speakers(num_speakers=2, known=(("bo", (0.6, 0.8)),))
        job = store.create(
            None, "openai/whisper-1", TranscriptionOptions(), "json", None, io.BytesIO(b"x"), 1.0, speakers
        )
        assert store.get(job.id).speakers == speakers  # type: ignore[union-attr]
        plain = store.create(None, "openai/whisper-1", TranscriptionOptions(), "json", None, io.BytesIO(b"x"), 1.0)
        assert plain.speakers is None
    finally:
        store.close()
