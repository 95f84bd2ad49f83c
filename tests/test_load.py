"""Serving under load: admission control, timeouts, hang-ups, health, metrics, limits."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from conftest import CLIPS, NO_SPEECH_CLIPS, RunningServer, clip_path, start_server, stop_server
from test_streaming import metric

from server.config import PROJECT_ROOT

TRANSCRIBE = "/v1/inference/audio/transcribe"
GERMAN = "librivox_de_simplicissimus_title.mp3"


def tight_registry(folder: Path) -> Path:
    """The shipped registry with a queue of one, and a tiny.en that times out and unloads fast."""
    text = (PROJECT_ROOT / "models.toml").read_text()
    text = text.replace("max_queue = 16", "max_queue = 1")
    text = text.replace(
        'aliases = ["whisper-tiny.en", "tiny.en"]',
        'aliases = ["whisper-tiny.en", "tiny.en"]\ntimeout_s = 2\nidle_unload_s = 1',
    )
    path = folder / "models.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("tight")
    running = start_server(folder, env={"AUDIO_MODELS": str(tight_registry(folder)), "AUDIO_MAX_AUDIO_SECONDS": "100"})
    yield running
    stop_server(running)


@pytest.fixture()
def tclient(tight: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tight.url, timeout=120) as c:
        yield c


def post_clip(base_url: str, name: str, model: str = "whisper-1", timeout: float = 120, **data: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=timeout) as c:
        return c.post(TRANSCRIBE, data={"model": model, **data}, files={"file": (name, clip_path(name).read_bytes())})


def wait_idle(client: httpx.Client, model: str, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if (
            metric(client, "audio_active_requests", model=model) == 0
            and metric(client, "audio_queue_depth", model=model) == 0
        ):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{model} still busy after {within} s")


def test_overload_is_refused_with_429_and_retry_after(tight: RunningServer, tclient: httpx.Client) -> None:
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: post_clip(tight.url, "jfk_ask_not.flac"), range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= 2 and statuses.count(429) >= 1, statuses
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"]["code"] == "queue_full"
    # The queue drains and the model serves again.
    wait_idle(tclient, "openai/whisper-1", 30)
    assert post_clip(tight.url, "pocketsphinx_cards_002.wav").status_code == 200


def test_openai_clients_see_rate_limit_errors(tight: RunningServer) -> None:
    sdk = openai.OpenAI(base_url=f"{tight.url}/oai/v1", api_key="x", max_retries=0, timeout=120)
    audio = clip_path("jfk_ask_not.flac").read_bytes()

    def call(_: int) -> str:
        try:
            sdk.audio.transcriptions.create(model="whisper-1", file=("jfk.flac", audio))
            return "ok"
        except openai.RateLimitError as exc:
            assert exc.response.headers["retry-after"]
            return "429"

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(call, range(5)))
    assert "429" in outcomes and "ok" in outcomes


def test_a_request_whose_client_leaves_frees_its_slot(tight: RunningServer, tclient: httpx.Client) -> None:
    before = metric(tclient, "audio_processed_audio_seconds_total", model="openai/whisper-1")
    with pytest.raises(httpx.ReadTimeout):
        post_clip(tight.url, GERMAN, timeout=1.5)
    # The worker stops at its next 30 s window: the clip is never finished, so its audio
    # never counts as processed (it would add 68 s had the work run to the end).
    wait_idle(tclient, "openai/whisper-1", 30)
    assert metric(tclient, "audio_processed_audio_seconds_total", model="openai/whisper-1") == before
    assert post_clip(tight.url, "pocketsphinx_cards_002.wav").status_code == 200


def test_a_queued_client_that_leaves_is_never_started(tight: RunningServer, tclient: httpx.Client) -> None:
    before = metric(tclient, "audio_processed_audio_seconds_total", model="openai/whisper-1")
    first: list[httpx.Response] = []
    runner = threading.Thread(target=lambda: first.append(post_clip(tight.url, GERMAN)))
    runner.start()
    time.sleep(1.0)
    with pytest.raises(httpx.ReadTimeout):
        post_clip(tight.url, "jfk_ask_not.flac", timeout=1.0)
    runner.join()
    assert first[0].status_code == 200
    wait_idle(tclient, "openai/whisper-1", 10)
    processed = metric(tclient, "audio_processed_audio_seconds_total", model="openai/whisper-1") - before
    assert processed == pytest.approx(CLIPS[GERMAN]["duration_s"], abs=0.2)


def test_nothing_waits_forever(tight: RunningServer, tclient: httpx.Client) -> None:
    # tiny.en allows 2 s per request here: a long clip runs past it, one queued behind it waits past it.
    long_english = tight.log.parent / "long.wav"
    audio, rate = sf.read(clip_path("jfk_ask_not.flac"))
    sf.write(long_english, np.tile(audio, (6, 1)), rate)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=tight.url, timeout=60) as c:
            return c.post(
                TRANSCRIBE, data={"model": "tiny.en"}, files={"file": ("long.wav", long_english.read_bytes())}
            )

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(send, range(2)))
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "timeout"
        assert int(response.headers["Retry-After"]) >= 1
    wait_idle(tclient, "local/whisper-tiny.en", 10)


def test_idle_model_unloads_and_reloads(tight: RunningServer, tclient: httpx.Client) -> None:
    assert post_clip(tight.url, "pocketsphinx_cards_002.wav", model="tiny.en").status_code == 200
    deadline = time.monotonic() + 10
    while "model:local/whisper-tiny.en" in tclient.get("/ready").json()["models_loaded"]:
        assert time.monotonic() < deadline, "tiny.en was never unloaded"
        time.sleep(0.2)
    assert post_clip(tight.url, "pocketsphinx_cards_002.wav", model="tiny.en").status_code == 200


def test_max_audio_duration(tight: RunningServer, tmp_path: Path) -> None:
    response = post_clip(tight.url, "music_tchaikovsky_sugar_plum_fairy.ogg")
    assert response.status_code == 400 and response.json()["error"]["code"] == "audio_too_long"
    # Ten minutes of digital silence compress to a few kilobytes of FLAC.
    silence = tmp_path / "silence.flac"
    sf.write(silence, np.zeros(600 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    assert silence.stat().st_size < 100_000
    with httpx.Client(base_url=tight.url, timeout=60) as c:
        response = c.post(TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("s.flac", silence.read_bytes())})
    assert response.status_code == 400 and response.json()["error"]["code"] == "audio_too_long"


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


def test_health_ready_and_metrics(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert {"model:openai/whisper-1", "model:local/whisper-tiny.en"} <= set(ready.json()["models_loaded"])
    route = "/v1/inference/audio/synthesize"
    before = metric(client, "audio_requests_total", route=route, status="200")
    first_bytes = metric(client, "audio_synthesis_first_byte_seconds_count", model="openai/tts-1")
    response = client.post(
        route, json={"model": "tts-1", "voice": "alloy", "input": "Count me.", "response_format": "pcm"}
    )
    assert response.status_code == 200
    assert metric(client, "audio_requests_total", route=route, status="200") == before + 1
    assert metric(client, "audio_synthesis_first_byte_seconds_count", model="openai/tts-1") == first_bytes + 1
    assert metric(client, "audio_request_seconds_count", route=route) >= before + 1
    text = client.get("/metrics").text
    for name in (
        "audio_queue_depth",
        "audio_queue_wait_seconds_bucket",
        "audio_real_time_factor_bucket",
        "audio_model_load_seconds",
        "audio_processed_audio_seconds_total",
    ):
        assert re.search(rf"^{name}\{{", text, re.MULTILINE), name
    assert metric(client, "audio_model_load_seconds", model="model:openai/whisper-1") > 0


def test_ready_reports_a_model_that_failed_to_load(tmp_path: Path) -> None:
    registry = tmp_path / "models.toml"
    registry.write_text(
        (PROJECT_ROOT / "models.toml").read_text()
        + '\n[models."local/missing"]\ntask = "transcription"\npreload = true\nsource.path = "no-such-dir"\n'
    )
    running = start_server(tmp_path, env={"AUDIO_MODELS": str(registry)}, wait_ready=False)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as c:
            deadline = time.monotonic() + 60
            while not c.get("/ready").json()["preloaded"]:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            ready = c.get("/ready")
            assert ready.status_code == 503
            assert "no-such-dir" in ready.json()["errors"][0]
            assert c.get("/health").status_code == 200
            response = c.post(
                TRANSCRIBE,
                data={"model": "local/missing"},
                files={"file": ("c.wav", clip_path("pocketsphinx_cards_002.wav").read_bytes())},
            )
            assert response.status_code == 503 and response.json()["error"]["code"] == "model_unavailable"
    finally:
        stop_server(running)
