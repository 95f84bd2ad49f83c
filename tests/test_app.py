"""The app's own middleware: CORS for pages on other origins, request ids, one log line per request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import ROOT
from fakes import LOOPBACK_TLS, FakeEngines, FastServer

from server.requestlog import JsonFormatter
from server.testing import free_port, wait_for

PAGE = "http://127.0.0.1:8404"
SPEECH = "/oai/v1/audio/speech"
BODY = {"model": "tts-1", "input": "Hi.", "voice": "alloy", "response_format": "pcm"}


def preflight(client: httpx.Client, origin: str = PAGE) -> httpx.Response:
    return client.options(
        SPEECH,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def test_cors_is_off_by_default(fast_client: httpx.Client) -> None:
    assert preflight(fast_client).status_code == 405
    response = fast_client.post(SPEECH, json=BODY, headers={"Origin": PAGE})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_a_listed_origin_passes_preflight_even_with_keys(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(cors_origins=(PAGE, "http://other.test"), api_keys=frozenset({"k-1"}))
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        # A browser's preflight carries no key; it must not be refused for that.
        answer = preflight(c)
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == PAGE
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        assert preflight(c, "http://evil.test").status_code == 400

        response = c.post(SPEECH, json=BODY, headers={"Origin": PAGE, "Authorization": "Bearer k-1"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == PAGE
        exposed = response.headers["access-control-expose-headers"].lower()
        assert {"retry-after", "content-type", "x-request-id"} <= {h.strip() for h in exposed.split(",")}
        # Errors carry the header too, so the page can read the API's message.
        refused = c.post(SPEECH, json=BODY, headers={"Origin": PAGE})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == PAGE


def test_any_origin_with_a_star(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(cors_origins=("*",))
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        assert preflight(c, "http://anywhere.test").headers["access-control-allow-origin"] == "*"


def test_the_favicon_is_served_without_a_key(
    fast_client: httpx.Client, fast_server_with: Callable[..., FastServer]
) -> None:
    icon = fast_client.get("/favicon.ico")
    assert icon.status_code == 200, icon.text
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.lstrip().startswith(b"<svg")
    running = fast_server_with(api_keys=frozenset({"k-1"}))
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        assert c.get("/favicon.ico").status_code == 200
        assert c.get("/oai/v1/models").status_code == 401


def test_every_response_has_a_request_id(fast_client: httpx.Client) -> None:
    ids = {fast_client.get("/health").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert fast_client.get("/health", headers={"X-Request-Id": "trace-42"}).headers["x-request-id"] == "trace-42"
    # An id that could break a log line is replaced, not echoed.
    assert fast_client.get("/health", headers={"X-Request-Id": "a b\tc"}).headers["x-request-id"] != "a b\tc"
    assert fast_client.get("/no/such/route").headers["x-request-id"]


def test_one_log_line_per_request_with_its_facts(fast_client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.access")
    clip = (ROOT / "tests" / "data" / "pocketsphinx_cards_002.wav").read_bytes()
    response = fast_client.post(
        "/v1/inference/audio/transcribe",
        data={"model": "whisper-1"},
        files={"file": ("c.wav", clip)},
        headers={"X-Request-Id": "req-7"},
    )
    assert response.status_code == 200
    lines = records_when(caplog, lambda r: r.name == "server.access" and r.fields["id"] == "req-7")  # type: ignore[attr-defined]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["route"] == "/v1/inference/audio/transcribe"
    assert fields["model"] == "openai/whisper-1"
    assert fields["status"] == 200
    assert fields["audio_seconds"] == pytest.approx(1.96, abs=0.1)
    assert fields["queue_wait_s"] is not None and fields["time_s"] > 0


def records_when(
    caplog: pytest.LogCaptureFixture, wanted: Callable[[logging.LogRecord], bool]
) -> list[logging.LogRecord]:
    """The captured records that are `wanted`, once there are any: the server thread writes a request's
    lines as its response ends, a moment after the client already has it."""
    return wait_for(lambda: [r for r in caplog.records if wanted(r)], 2, message="no such record was logged")


def test_the_json_format_is_one_object_per_line() -> None:
    record = logging.LogRecord("server.access", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"id": "x", "status": 200}  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["id"] == "x" and line["status"] == 200


def test_a_served_process_logs_json_and_never_a_key(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AUDIO_LOG_FORMAT": "json",
        "AUDIO_API_KEYS": "sk-very-secret-1",
        "AUDIO_NO_PRELOAD": "1",
        "AUDIO_CACHE_DIR": str(tmp_path / "cache"),
    }
    command = [sys.executable, "-m", "server", "serve", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            try:
                httpx.get(url + "/health", timeout=1)
                return True
            except httpx.TransportError:
                assert process.poll() is None
                return False

        wait_for(answering, 10, interval=0.05)
        with httpx.Client(verify=LOOPBACK_TLS, base_url=url, timeout=10) as c:
            assert c.get("/oai/v1/models", headers={"Authorization": "Bearer sk-very-secret-1"}).status_code == 200
            assert c.get("/oai/v1/models", headers={"Authorization": "Bearer sk-wrong-2"}).status_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "sk-very-secret-1" not in output and "sk-wrong-2" not in output
    requests = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [r for r in requests if r.get("message") == "request"]
    assert [r["status"] for r in requests if r["route"] == "/oai/v1/models"] == [200, 401]
    assert all({"id", "route", "status", "time_s", "level", "time"} <= set(r) for r in requests)


def test_an_unexpected_error_is_a_500_logged_once(
    fast_server_with: Callable[..., FastServer], caplog: pytest.LogCaptureFixture
) -> None:
    running = fast_server_with(engines=FakeEngines(failing=True))
    caplog.set_level(logging.INFO)
    clip = (ROOT / "tests" / "data" / "pocketsphinx_cards_002.wav").read_bytes()
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        response = c.post(
            "/v1/inference/audio/transcribe",
            data={"model": "whisper-1"},
            files={"file": ("c.wav", clip)},
            headers={"X-Request-Id": "bug-1"},
        )
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == "error" and body["error"]["code"] == "internal_error"
    assert "bug-1" in body["error"]["message"] and "Traceback" not in response.text
    errors = records_when(caplog, lambda r: r.levelno >= logging.ERROR)
    assert len(errors) == 1 and "bug-1" in errors[0].getMessage(), [r.getMessage() for r in errors]
