"""Every failure of the native surface: status, the error envelope, and a stable code (fast layer: fake engines)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import clip_path
from fakes import LOOPBACK_TLS, FastServer

from server.config import Settings

TRANSCRIBE = "/v1/inference/audio/transcribe"
SYNTHESIZE = "/v1/inference/audio/synthesize"


def assert_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param
    assert "Traceback" not in response.text


def jfk() -> tuple[str, bytes, str]:
    return ("jfk.flac", clip_path("jfk_ask_not.flac").read_bytes(), "audio/flac")


@pytest.mark.parametrize(
    ("data", "files", "status", "code", "param"),
    [
        ({}, {"file": jfk()}, 400, "missing_field", "model"),
        ({"model": "whisper-1"}, {"other": jfk()}, 400, "missing_field", "file"),
        ({"model": "no-such-model"}, {"file": jfk()}, 404, "model_not_found", "model"),
        ({"model": "tts-1"}, {"file": jfk()}, 400, "unsupported_model", "model"),
        ({"model": "whisper-1"}, {"file": ("empty.wav", b"", "audio/wav")}, 400, "empty_file", "file"),
        (
            {"model": "whisper-1"},
            {"file": ("notes.txt", b"hello, this is text" * 50, "text/plain")},
            415,
            "unsupported_audio",
            "file",
        ),
        ({"model": "whisper-1", "response_format": "docx"}, {"file": jfk()}, 400, "invalid_value", "response_format"),
        ({"model": "whisper-1", "temperature": "hot"}, {"file": jfk()}, 400, "invalid_value", "temperature"),
        ({"model": "whisper-1", "temperature": "1.5"}, {"file": jfk()}, 400, "invalid_value", "temperature"),
        ({"model": "whisper-1", "language": "xx"}, {"file": jfk()}, 400, "invalid_value", "language"),
        (
            {"model": "whisper-1", "timestamp_granularities[]": "word"},
            {"file": jfk()},
            400,
            "invalid_value",
            "timestamp_granularities",
        ),
        (
            {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": "letter"},
            {"file": jfk()},
            400,
            "invalid_value",
            "timestamp_granularities",
        ),
    ],
)
def test_transcription_errors(
    fast_client: httpx.Client,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes, str]],
    status: int,
    code: str,
    param: str,
) -> None:
    assert_error(fast_client.post(TRANSCRIBE, data=data, files=files), status, code, param)


def test_video_without_audio_is_415(fast_client: httpx.Client) -> None:
    # A PNG is a valid FFmpeg input (an image stream) but has no audio in it.
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    response = fast_client.post(TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("a.png", png, "image/png")})
    assert_error(response, 415, "unsupported_audio", "file")


def test_json_body_for_transcription_is_400(fast_client: httpx.Client) -> None:
    response = fast_client.post(TRANSCRIBE, json={"model": "whisper-1"})
    assert_error(response, 400, "invalid_content_type")


def test_truncated_audio_is_415_not_500(fast_client: httpx.Client) -> None:
    header_only = clip_path("pocketsphinx_cards_002.wav").read_bytes()[:30]
    response = fast_client.post(TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("cut.wav", header_only)})
    assert_error(response, 415, "unsupported_audio", "file")


GOOD = {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"model": None}, 400, "missing_field", "model"),
        ({"input": None}, 400, "missing_field", "input"),
        ({"voice": None}, 400, "missing_field", "voice"),
        ({"model": "tts-9"}, 404, "model_not_found", "model"),
        ({"model": "whisper-1"}, 400, "unsupported_model", "model"),
        ({"voice": "dracula"}, 400, "voice_not_found", "voice"),
        ({"speed": 0.1}, 400, "speed_out_of_range", "speed"),
        ({"speed": 4.5}, 400, "speed_out_of_range", "speed"),
        ({"speed": "fast"}, 400, "invalid_value", "speed"),
        ({"input": ""}, 400, "empty_input", "input"),
        ({"input": "   \n\t "}, 400, "empty_input", "input"),
        ({"input": "... ?! ..."}, 400, "empty_input", "input"),
        ({"input": "x" * 4097}, 400, "input_too_long", "input"),
        ({"input": 42}, 400, "invalid_value", "input"),
        ({"response_format": "ogg"}, 400, "invalid_value", "response_format"),
    ],
)
def test_synthesis_errors(
    fast_client: httpx.Client, change: dict[str, object], status: int, code: str, param: str
) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    assert_error(fast_client.post(SYNTHESIZE, json=body), status, code, param)


def test_malformed_json_is_400(fast_client: httpx.Client) -> None:
    response = fast_client.post(
        SYNTHESIZE, content=b'{"model": "tts-1", "input": ', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")


def test_huge_json_body_is_413(fast_client: httpx.Client) -> None:
    body = b'{"model": "tts-1", "voice": "alloy", "input": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = fast_client.post(SYNTHESIZE, content=body, headers={"content-type": "application/json"})
    assert_error(response, 413, "body_too_large")


def test_deeply_nested_json_is_400(fast_client: httpx.Client) -> None:
    body = b'{"model": "tts-1", "voice": "alloy", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = fast_client.post(SYNTHESIZE, content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


def test_json_array_body_is_400(fast_client: httpx.Client) -> None:
    assert_error(fast_client.post(SYNTHESIZE, json=["tts-1"]), 400, "invalid_json")


def test_form_body_for_synthesis_is_400(fast_client: httpx.Client) -> None:
    assert_error(fast_client.post(SYNTHESIZE, data=GOOD), 400, "invalid_content_type")


def test_unknown_route_and_method_use_the_envelope(fast_client: httpx.Client) -> None:
    assert_error(fast_client.get("/v1/inference/audio/nothing"), 404, "not_found")
    assert_error(fast_client.get(SYNTHESIZE), 405, "method_not_allowed")


@pytest.fixture()
def strict_server(fast_server_with: Callable[..., FastServer], tmp_path: Path) -> FastServer:
    """Keys configured (one from the environment's list, one from a key file), a 1 MB upload limit
    and a 50-character input limit."""
    keys = tmp_path / "keys.txt"
    keys.write_text("# one key per line\nfile-key-456\n")
    settings = Settings.from_env(
        {
            "AUDIO_API_KEYS": "env-key-123",
            "AUDIO_API_KEYS_FILE": str(keys),
            "AUDIO_MAX_UPLOAD_MB": "1",
            "AUDIO_MAX_INPUT_CHARS": "50",
        }
    )
    return fast_server_with(
        api_keys=settings.api_keys,
        max_upload_bytes=settings.max_upload_bytes,
        max_input_chars=settings.max_input_chars,
    )


def test_missing_or_wrong_key_is_401(strict_server: FastServer) -> None:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=strict_server.url, timeout=60) as c:
        assert_error(c.post(SYNTHESIZE, json=GOOD), 401, "invalid_api_key")
        assert_error(c.post(SYNTHESIZE, json=GOOD, headers={"Authorization": "Bearer nope"}), 401, "invalid_api_key")
        assert_error(
            c.post(SYNTHESIZE, json=GOOD, headers={"Authorization": "Basic env-key-123"}), 401, "invalid_api_key"
        )
        response = c.post(TRANSCRIBE, data={"model": "tiny.en"}, files={"file": jfk()})
        assert_error(response, 401, "invalid_api_key")
        openai_body = c.post("/oai/v1/audio/speech", json=GOOD).json()
        assert openai_body["error"]["type"] == "authentication_error"


def test_keys_from_env_and_file_work(strict_server: FastServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with httpx.Client(verify=LOOPBACK_TLS, base_url=strict_server.url, timeout=120) as c:
        for key in ("env-key-123", "file-key-456"):
            response = c.post(
                SYNTHESIZE, json={**GOOD, "response_format": "pcm"}, headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 200, response.text
        assert c.get("/health").status_code == 200
    assert caplog.records, "the requests were logged"
    assert "env-key-123" not in caplog.text
    assert "file-key-456" not in caplog.text


def test_upload_limit_is_413(strict_server: FastServer) -> None:
    auth = {"Authorization": "Bearer env-key-123"}
    big = clip_path("jfk_ask_not.flac").read_bytes()  # 1.1 MB against a 1 MB limit
    with httpx.Client(verify=LOOPBACK_TLS, base_url=strict_server.url, timeout=60, headers=auth) as c:
        response = c.post(TRANSCRIBE, data={"model": "tiny.en"}, files={"file": ("jfk.flac", big)})
        assert_error(response, 413, "file_too_large", "file")

        # Without a Content-Length the limit is enforced while the body streams in.
        def chunks() -> Iterator[bytes]:
            boundary = b"--b0undary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="model"\r\n\r\ntiny.en\r\n'
            yield boundary + b'Content-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n'
            for _ in range(40):
                yield b"\0" * 65536
            yield b"\r\n--b0undary--\r\n"

        response = c.post(
            TRANSCRIBE, content=chunks(), headers={"content-type": "multipart/form-data; boundary=b0undary"}
        )
        assert_error(response, 413, "file_too_large", "file")
        # A small file still works on the same server.
        small = clip_path("pocketsphinx_cards_002.wav").read_bytes()
        assert c.post(TRANSCRIBE, data={"model": "tiny.en"}, files={"file": ("c.wav", small)}).status_code == 200


def test_input_limit_is_configurable(strict_server: FastServer) -> None:
    auth = {"Authorization": "Bearer env-key-123"}
    with httpx.Client(verify=LOOPBACK_TLS, base_url=strict_server.url, timeout=60, headers=auth) as c:
        assert_error(c.post(SYNTHESIZE, json={**GOOD, "input": "y" * 51}), 400, "input_too_long", "input")
        at_limit = "Hello there, this is exactly fifty characters long"  # 50 characters
        assert c.post(SYNTHESIZE, json={**GOOD, "input": at_limit, "response_format": "pcm"}).status_code == 200
