"""Serving under load on fake engines, ordered by a gate the test holds: queues, 429s, hang-ups,
deadlines, idle unloading, readiness, metrics and SSE framing (fast layer)."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from conftest import clip_path, metric, sse_events, write_registry
from fakes import LOOPBACK_TLS, FakeEngines, FastServer

from engines.loader import cuda_available, place
from engines.models.registry_files import load_registry
from engines.whisper.policy import batching_for
from server.config import PROJECT_ROOT
from server.testing import wait_for

TRANSCRIBE = "/v1/inference/audio/transcribe"
SYNTHESIZE = "/v1/inference/audio/synthesize"
WHISPER = "openai/whisper-1"
CARDS = "pocketsphinx_cards_002.wav"  # 2 s: two fake segments


def whisper_limits(**limits: float) -> Callable[[dict[str, Any]], None]:
    """A models.toml change: these limits for whisper-1."""

    def change(document: dict[str, Any]) -> None:
        document["models"]["openai/whisper-1"].update(limits)

    return change


def queue_of_one(document: dict[str, Any]) -> None:
    document["defaults"]["max_queue"] = 1
    document["models"]["openai/whisper-1"]["concurrency"] = 1
    tiny = document["models"]["local/whisper-tiny.en"]
    tiny["timeout_s"] = 0.25
    tiny["concurrency"] = 1
    tiny["idle_unload_s"] = 0.2


@pytest.fixture()
def tight(fast_server_with: Callable[..., FastServer], tmp_path: Path) -> Iterator[FastServer]:
    """whisper-1 takes one request and queues one; tiny.en times out after 0.25 s and unloads after 0.2 s idle."""
    running = fast_server_with(models_path=write_registry(tmp_path, queue_of_one))
    yield running
    running.engines.gate.open()


def post(
    server: FastServer, clip: str = CARDS, model: str = "whisper-1", timeout: float = 30, **data: str
) -> httpx.Response:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=server.url, timeout=timeout) as c:
        return c.post(TRANSCRIBE, data={"model": model, **data}, files={"file": (clip, clip_path(clip).read_bytes())})


def gauges(server: FastServer, model: str = WHISPER) -> tuple[float, float]:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=server.url) as c:
        return metric(c, "audio_active_requests", model=model), metric(c, "audio_queue_depth", model=model)


def test_overload_is_refused_with_429_then_the_queue_drains(tight: FastServer) -> None:
    gate = tight.engines.gate
    gate.close()
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(post, tight)
        gate.wait_for_waiting(1)
        queued = pool.submit(post, tight)
        wait_for(lambda: gauges(tight) == (1, 1), 10)
        refused = post(tight)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "queue_full"
        assert int(refused.headers["Retry-After"]) >= 1
        with httpx.Client(verify=LOOPBACK_TLS, base_url=tight.url) as c:
            assert c.get("/ready").json()["saturated"] == [WHISPER]
            openai_refusal = c.post(
                "/oai/v1/audio/transcriptions",
                data={"model": "whisper-1"},
                files={"file": ("c.wav", clip_path(CARDS).read_bytes())},
            )
        assert openai_refusal.status_code == 429
        assert openai_refusal.json()["error"]["type"] == "rate_limit_error"
        gate.open()
        assert running.result().status_code == 200 and queued.result().status_code == 200
    wait_for(lambda: gauges(tight) == (0, 0), 10)


def test_openai_clients_see_rate_limit_errors(tight: FastServer) -> None:
    gate = tight.engines.gate
    gate.close()
    sdk = openai.OpenAI(base_url=f"{tight.url}/oai/v1", api_key="x", max_retries=0, timeout=30)
    audio = clip_path(CARDS).read_bytes()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(sdk.audio.transcriptions.create, model="whisper-1", file=("c.wav", audio))]
        gate.wait_for_waiting(1)
        futures.append(pool.submit(sdk.audio.transcriptions.create, model="whisper-1", file=("c.wav", audio)))
        wait_for(lambda: gauges(tight) == (1, 1), 10)
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.audio.transcriptions.create(model="whisper-1", file=("c.wav", audio))
        assert refused.value.response.headers["retry-after"]
        gate.open()
        assert all(f.result().text for f in futures)


def send_and_keep_open(server: FastServer, model: str = "whisper-1", clip: str = CARDS) -> socket.socket:
    """A transcription request on a raw socket, left open so that the test can hang up when it likes."""
    request = httpx.Request(
        "POST",
        server.url + TRANSCRIBE,
        data={"model": model},
        files={"file": (clip, clip_path(clip).read_bytes())},
    )
    body = request.read()
    host, port = server.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    head = f"POST {TRANSCRIBE} HTTP/1.1\r\nHost: {host}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host")
    conn.sendall(head.encode() + b"\r\n" + body)
    return conn


def processed(server: FastServer, model: str = WHISPER) -> float:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=server.url) as c:
        return metric(c, "audio_processed_audio_seconds_total", model=model)


def test_a_client_that_leaves_mid_work_frees_its_slot(tight: FastServer) -> None:
    gate = tight.engines.gate
    before = processed(tight)
    gate.close()
    conn = send_and_keep_open(tight, clip="jfk_ask_not.flac")  # eleven one-second segments
    gate.wait_for_waiting(1)
    conn.close()
    # The worker stops at its next segment once the server sees the hang-up, long before the end
    # of the eleven (when the event loop notices the closed socket is up to it, so a few steps may
    # pass first), and its audio is never counted as processed.
    steps = gate.step_until(lambda: gauges(tight) == (0, 0))
    assert steps < 8
    assert processed(tight) == before
    gate.open()
    assert post(tight).status_code == 200
    assert processed(tight) == pytest.approx(before + 2.0, abs=0.1)


def test_a_queued_client_that_leaves_is_never_started(tight: FastServer) -> None:
    gate = tight.engines.gate
    before, passed = processed(tight), gate.passed
    gate.close()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, tight)
        gate.wait_for_waiting(1)
        conn = send_and_keep_open(tight, clip="jfk_ask_not.flac")
        wait_for(lambda: gauges(tight) == (1, 1), 10)
        conn.close()
        gate.open()
        assert first.result().status_code == 200
    wait_for(lambda: gauges(tight) == (0, 0), 10)
    # Only the first request's two seconds were worked on.
    assert gate.passed - passed == 2
    assert processed(tight) == pytest.approx(before + 2.0, abs=0.1)


def test_waiters_that_hang_up_leave_the_queue_at_once(
    fast_server_with: Callable[..., FastServer], tmp_path: Path
) -> None:
    running = fast_server_with(models_path=write_registry(tmp_path, whisper_limits(max_queue=3, concurrency=1)))
    gate = running.engines.gate
    gate.close()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, running)
        gate.wait_for_waiting(1)
        dead = [send_and_keep_open(running) for _ in range(3)]
        wait_for(lambda: gauges(running) == (1, 3), 10)
        for conn in dead:
            conn.close()
        # The first request still holds the slot: the queue empties because its waiters left.
        wait_for(lambda: gauges(running) == (1, 0), 5)
        live = pool.submit(post, running)
        wait_for(lambda: gauges(running) == (1, 1), 10)
        gate.open()
        assert first.result().status_code == 200
        assert live.result().status_code == 200  # admitted, not refused with 429


def test_nothing_waits_forever(fast_server_with: Callable[..., FastServer], tmp_path: Path) -> None:
    # tiny.en waits 0.25 s for a slot here, and work may take 0.25 s (plus nothing per audio second):
    # one request is held past its work budget, one waits behind it past the wait. (A budget this short
    # is this test's alone: elsewhere a request held at the gate under load would run past it.)
    tight = fast_server_with(models_path=write_registry(tmp_path, queue_of_one), work_base_s=0.25, work_per_audio_s=0)
    gate = tight.engines.gate
    gate.close()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(post, tight, model="tiny.en")
        gate.wait_for_waiting(1)
        waiting = post(tight, model="tiny.en")
        gate.open()
        # Waiting for a slot is worth retrying, and says when.
        assert waiting.status_code == 503, waiting.text
        assert waiting.json()["error"]["code"] == "timeout"
        assert int(waiting.headers["Retry-After"]) >= 1
        # Work past its budget would run past it again: no Retry-After, and the way out is named.
        over = held.result()
        assert over.status_code == 503, over.text
        error = over.json()["error"]
        assert error["code"] == "work_timeout"
        assert "/v1/inference/audio/jobs" in error["message"]
        assert "retry-after" not in over.headers
        assert over.headers["x-should-retry"] == "false"
    wait_for(lambda: gauges(tight, "local/whisper-tiny.en") == (0, 0), 10)


def test_a_short_wait_limit_does_not_cut_off_work_within_its_budget(
    fast_server_with: Callable[..., FastServer], tmp_path: Path
) -> None:
    # timeout_s bounds the wait for a slot; work that runs longer than it, but within its budget, finishes.
    running = fast_server_with(models_path=write_registry(tmp_path, whisper_limits(timeout_s=0.2)))
    gate = running.engines.gate
    gate.close()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(post, running)
        gate.wait_for_waiting(1)
        time.sleep(0.5)
        gate.open()
        assert slow.result().status_code == 200, slow.result().text


def test_idle_model_unloads_and_reloads(tight: FastServer) -> None:
    assert post(tight, model="tiny.en").status_code == 200
    with httpx.Client(verify=LOOPBACK_TLS, base_url=tight.url) as c:
        wait_for(lambda: "model:local/whisper-tiny.en" not in c.get("/ready").json()["models_loaded"], 10)
    loads = tight.engines.loads.count("local/whisper-tiny.en")
    assert post(tight, model="tiny.en").status_code == 200
    assert tight.engines.loads.count("local/whisper-tiny.en") == loads + 1


def test_ready_reports_a_model_that_failed_to_load(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(engines=FakeEngines(broken=frozenset({"local/whisper-tiny.en"})))
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        wait_for(lambda: c.get("/ready").json()["preloaded"], 10)
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert "cannot load local/whisper-tiny.en" in ready.json()["errors"][0]
        assert c.get("/health").status_code == 200
        response = c.post(
            TRANSCRIBE, data={"model": "tiny.en"}, files={"file": ("c.wav", clip_path(CARDS).read_bytes())}
        )
        assert response.status_code == 503 and response.json()["error"]["code"] == "model_unavailable"


def test_whisper_runs_as_many_requests_as_its_batches_hold(fast_client: httpx.Client) -> None:
    entry = load_registry(PROJECT_ROOT / "models.toml").models["openai/whisper-1"]
    batching, _ = batching_for(entry, place(entry, cuda_available()), os.cpu_count() or 1)
    limit = metric(fast_client, "audio_concurrency_limit", model=WHISPER)
    assert limit == batching.batch_size * batching.workers >= 2  # room for requests to share a batch


def test_health_ready_and_metrics(fast_client: httpx.Client) -> None:
    assert fast_client.get("/health").json() == {"status": "ok"}
    ready = fast_client.get("/ready")
    assert ready.status_code == 200
    assert {"model:openai/whisper-1", "model:local/whisper-tiny.en"} <= set(ready.json()["models_loaded"])
    before = metric(fast_client, "audio_requests_total", route=SYNTHESIZE, status="200")
    first_bytes = metric(fast_client, "audio_synthesis_first_byte_seconds_count", model="openai/tts-1")
    body = {"model": "tts-1", "voice": "alloy", "input": "Count me.", "response_format": "pcm"}
    assert fast_client.post(SYNTHESIZE, json=body).status_code == 200
    assert metric(fast_client, "audio_requests_total", route=SYNTHESIZE, status="200") == before + 1
    assert metric(fast_client, "audio_synthesis_first_byte_seconds_count", model="openai/tts-1") == first_bytes + 1
    assert metric(fast_client, "audio_request_seconds_count", route=SYNTHESIZE) >= before + 1
    text = fast_client.get("/metrics").text
    for name in (
        "audio_queue_depth",
        "audio_queue_wait_seconds_bucket",
        "audio_real_time_factor_bucket",
        "audio_model_load_seconds",
        "audio_processed_audio_seconds_total",
        "audio_concurrency_limit",
    ):
        assert f"\n{name}{{" in text, name


def test_max_audio_duration_is_refused(fast_server_with: Callable[..., FastServer], tmp_path: Path) -> None:
    running = fast_server_with(max_audio_seconds=100)
    assert post(running, "music_tchaikovsky_sugar_plum_fairy.ogg").json()["error"]["code"] == "audio_too_long"
    # Ten minutes of digital silence compress to a few kilobytes of FLAC.
    silence = tmp_path / "silence.flac"
    sf.write(silence, np.zeros(600 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    assert silence.stat().st_size < 100_000
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=60) as c:
        response = c.post(TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("s.flac", silence.read_bytes())})
    assert response.status_code == 400 and response.json()["error"]["code"] == "audio_too_long"


# ------------------------------------------------------------------ SSE framing


@pytest.mark.parametrize("url", [TRANSCRIBE, "/oai/v1/audio/transcriptions"])
def test_transcript_sse_framing(fast_client: httpx.Client, url: str) -> None:
    files = {"file": ("jfk.flac", clip_path("jfk_ask_not.flac").read_bytes())}
    streamed = fast_client.post(url, data={"model": "whisper-1", "stream": "true"}, files=files)
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.headers["cache-control"] == "no-cache"
    assert streamed.text.endswith("\n\n")
    events = sse_events(streamed)
    assert [e["type"] for e in events] == ["transcript.text.delta"] * 11 + ["transcript.text.done"]
    assert events[0]["delta"] == "alpha bravo."
    assert events[1]["delta"] == " charlie delta."
    assert events[-1]["text"] == "".join(e["delta"] for e in events[:-1])
    assert events[-1]["usage"] == {"type": "duration", "seconds": pytest.approx(11.0, abs=0.05)}


@pytest.mark.parametrize("url", [SYNTHESIZE, "/oai/v1/audio/speech"])
def test_speech_sse_framing(fast_client: httpx.Client, url: str) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": "One. Two two. Three.", "stream_format": "sse"}
    response = fast_client.post(url, json={**body, "response_format": "pcm"})
    assert response.status_code == 200
    events = sse_events(response)
    # A delta per sentence, and the resampler's tail.
    assert [e["type"] for e in events] == ["speech.audio.delta"] * (len(events) - 1) + ["speech.audio.done"]
    assert len(events) >= 4
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    # 4 + 8 + 6 characters at 50 ms each, as 24 kHz 16-bit samples.
    assert len(audio) / 48000 == pytest.approx(0.9, abs=0.01)
    assert events[-1] == {"type": "speech.audio.done"}


def test_hanging_up_stops_the_synthesis(fast_client: httpx.Client, fast: FastServer) -> None:
    gate = fast.engines.gate
    before = metric(fast_client, "audio_processed_audio_seconds_total", model="openai/tts-1")
    body = {"model": "tts-1", "voice": "alloy", "input": "Spoken. " * 200, "response_format": "pcm"}
    gate.close()
    gate.allow(1)
    with fast_client.stream("POST", SYNTHESIZE, json=body) as response:
        next(response.iter_bytes())
        gate.wait_for_waiting(1)
    # The stream stops within a sentence or two of the hang-up, far short of 200 sentences.
    steps = gate.step_until(lambda: metric(fast_client, "audio_active_requests", model="openai/tts-1") == 0)
    assert steps < 20
    spoken = metric(fast_client, "audio_processed_audio_seconds_total", model="openai/tts-1") - before
    assert 0 < spoken < 10


def test_error_after_the_stream_started_is_an_sse_event(
    fast_server_with: Callable[..., FastServer], tmp_path: Path
) -> None:
    running = fast_server_with(work_base_s=0.5, work_per_audio_s=0.0)
    gate = running.engines.gate
    gate.close()
    gate.allow(1)
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        files = {"file": ("cards.wav", clip_path(CARDS).read_bytes())}
        with c.stream("POST", TRANSCRIBE, data={"model": "whisper-1", "stream": "true"}, files=files) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            first = json.loads(next(line for line in lines if line.startswith("data: "))[6:])
            assert first["type"] == "transcript.text.delta"
            gate.wait_for_waiting(1)
            time.sleep(0.6)  # the request's own 0.5 s budget passing is what this test is about
            gate.open()
            events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "work_timeout"
