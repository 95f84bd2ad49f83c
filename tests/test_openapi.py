"""/openapi.json describes both surfaces, validates as OpenAPI 3.1, and the live server keeps to it under
schemathesis; /docs renders it from files this server serves itself."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from conftest import clip_path
from fakes import LOOPBACK_TLS, FakeEngines, FastServer
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from engines.models.registry_files import load_registry
from server.app import create_app
from server.config import PROJECT_ROOT, Settings
from server.openapi import document
from server.testing import wait_for

PAGE_ROUTES = {"/", "/favicon.ico", "/openapi.json", "/docs"}
JOBS = "/v1/inference/audio/jobs"
SECRETS = "/oai/v1/realtime/client_secrets"


def conforming(doc: dict[str, Any], response: httpx.Response, path: str, method: str) -> Any:
    """The answer's body, once its status, content type and (JSON) body are shown to be the document's."""
    answers = doc["paths"][path][method]["responses"]
    assert str(response.status_code) in answers, (path, method, response.status_code, response.text)
    media = response.headers["content-type"].split(";")[0]
    content = answers[str(response.status_code)]["content"]
    assert media in content, (path, method, media)
    if media != "application/json":
        return response.text
    schema = {**content[media]["schema"], "components": doc["components"]}
    Draft202012Validator(schema).validate(response.json())
    return response.json()


def test_the_document_is_valid_openapi_3_1(fast_client: httpx.Client) -> None:
    served = fast_client.get("/openapi.json").json()
    assert served["openapi"] == "3.1.0"
    validate(served)
    paths = set(served["paths"])
    assert {"/v1/inference/audio/transcribe", "/v1/inference/audio/synthesize", "/oai/v1/audio/speech"} <= paths
    speech = served["components"]["schemas"]["SpeechRequest"]["properties"]
    assert speech["speed"]["minimum"] == 0.25 and speech["speed"]["maximum"] == 4.0
    assert speech["input"]["maxLength"] == Settings().max_input_chars
    assert set(speech["response_format"]["enum"]) == {"mp3", "opus", "aac", "flac", "wav", "pcm"}
    errors = served["paths"]["/v1/inference/audio/transcribe"]["post"]["responses"]
    assert {"400", "401", "404", "413", "415", "429", "503"} <= set(errors)
    assert errors["429"]["headers"]["Retry-After"]


def test_the_limits_and_names_in_the_document_are_the_servers() -> None:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    speech = document(Settings(max_input_chars=50), registry)["components"]["schemas"]["SpeechRequest"]
    assert speech["properties"]["input"]["maxLength"] == 50
    assert {"tts-1", "openai/tts-1"} <= set(speech["properties"]["model"]["enum"])
    assert {"nova", "en_US-joe-medium"} <= set(speech["properties"]["voice"]["anyOf"][0]["enum"])


def test_every_route_of_the_api_is_documented() -> None:
    """Each method of each HTTP route, the page's own files aside, is an operation of the document."""
    registry = load_registry(PROJECT_ROOT / "models.toml")
    settings = Settings(cache_dir=Path(tempfile.mkdtemp()))
    paths = document(settings, registry)["paths"]
    served = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in create_app(settings, engines=FakeEngines()).routes
        if isinstance(route, Route) and route.path not in PAGE_ROUTES
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in paths.items() for method in item if method != "parameters"}
    assert served - documented == set(), "routes missing from /openapi.json"
    assert {
        (JOBS, "post"),
        (JOBS, "get"),
        (JOBS + "/{job_id}", "get"),
        (JOBS + "/{job_id}", "delete"),
        (JOBS + "/{job_id}/result", "get"),
    } <= documented


def test_the_jobs_limits_in_the_document_are_the_servers() -> None:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    settings = Settings(max_job_upload_bytes=100 * 1024 * 1024, max_job_audio_seconds=7200)
    submit = document(settings, registry)["paths"][JOBS]["post"]
    assert "100 MB" in submit["description"] and "7200 s" in submit["description"]
    fields = submit["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert "stream" not in fields and fields["response_format"]["default"] == "json"
    assert {"202", "400", "404", "413", "415"} <= set(submit["responses"])
    assert submit["responses"]["202"]["headers"]["Location"]


def test_a_jobs_answers_keep_to_the_document(fast_server_with: Callable[..., FastServer]) -> None:
    """The answers schemathesis cannot reach with generated audio: a job queued, listed, refused its
    result while it runs, then its result in every format, and deleted."""
    running = fast_server_with()
    gate = running.engines.gate
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        doc = c.get("/openapi.json").json()

        def conforms(response: httpx.Response, path: str, method: str) -> Any:
            return conforming(doc, response, path, method)

        gate.close()
        clip = clip_path("jfk_ask_not.flac")
        submitted = c.post(JOBS, data={"model": "whisper-1"}, files={"file": (clip.name, clip.read_bytes())})
        job = conforms(submitted, JOBS, "post")["data"]
        assert submitted.headers["location"] == f"{JOBS}/{job['id']}"
        early = c.get(f"{JOBS}/{job['id']}/result")
        assert conforms(early, JOBS + "/{job_id}/result", "get")["error"]["code"] == "job_not_finished"
        gate.open()

        def succeeded() -> bool:
            answer = conforms(c.get(f"{JOBS}/{job['id']}"), JOBS + "/{job_id}", "get")
            return bool(answer["data"]["state"] == "succeeded")

        wait_for(succeeded, 20, message="the job to succeed")
        listed = conforms(c.get(JOBS, params={"limit": 1}), JOBS, "get")["data"]
        assert [j["id"] for j in listed["jobs"]] == [job["id"]] and listed["has_more"] is False
        for response_format in ("text", "json", "verbose_json", "srt", "vtt"):
            answer = c.get(f"{JOBS}/{job['id']}/result", params={"response_format": response_format})
            assert answer.status_code == 200, answer.text
            conforms(answer, JOBS + "/{job_id}/result", "get")
        gone = conforms(c.delete(f"{JOBS}/{job['id']}"), JOBS + "/{job_id}", "delete")["data"]
        assert gone["deleted"] is True and gone["state"] == "succeeded"
        missing = conforms(c.get(f"{JOBS}/{job['id']}"), JOBS + "/{job_id}", "get")
        assert missing["error"]["code"] == "job_not_found"


def test_the_realtime_socket_and_its_limits_are_described() -> None:
    """OpenAPI has no WebSocket operations: the socket is described in the realtime tag, with this
    server's limits, and the route that mints its keys is an operation."""
    registry = load_registry(PROJECT_ROOT / "models.toml")
    doc = document(Settings(realtime_idle_s=45, realtime_max_s=900, ws_ping_s=15), registry)
    socket = next(t["description"] for t in doc["tags"] if t["name"] == "realtime")
    assert "GET /oai/v1/realtime?intent=transcription" in socket
    assert all(limit in socket for limit in ("45 s", "900 s", "15 s", "close 3000", "close 4000"))
    mint = doc["paths"][SECRETS]["post"]
    assert "/oai/v1/realtime?intent=transcription" in mint["description"]
    assert {"200", "400", "401"} <= set(mint["responses"])
    body = doc["components"]["schemas"]["RealtimeClientSecretRequest"]["properties"]
    seconds = body["expires_after"]["properties"]["seconds"]
    assert (seconds["minimum"], seconds["maximum"], seconds["default"]) == (10, 7200, 600)
    config = doc["components"]["schemas"]["RealtimeTranscriptionSessionConfig"]
    transcription = config["properties"]["audio"]["properties"]["input"]["properties"]["transcription"]
    models = transcription["anyOf"][1]["properties"]["model"]["enum"]
    assert {"whisper-1", "gpt-4o-transcribe", "tiny.en"} <= set(models)


def test_the_realtime_keys_answers_keep_to_the_document(fast_server_with: Callable[..., FastServer]) -> None:
    """With keys configured: a key minted with a real one, the values refused, and no key (or an
    `ek_…` one, which opens sessions only) refused."""
    running = fast_server_with(api_keys=frozenset({"sk-real"}))
    real = {"Authorization": "Bearer sk-real"}
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        doc = c.get("/openapi.json").json()
        session = {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": {"model": "gpt-4o-transcribe", "language": "en", "prompt": "Cards."},
                    "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                    "noise_reduction": {"type": "near_field"},
                }
            },
            "include": ["item.input_audio_transcription.logprobs"],
        }
        body = {"expires_after": {"anchor": "created_at", "seconds": 7200}, "session": session}
        minted = conforming(doc, c.post(SECRETS, json=body, headers=real), SECRETS, "post")
        assert minted["value"].startswith("ek_")
        assert minted["session"]["audio"]["input"]["transcription"]["model"] == "openai/whisper-1"
        assert conforming(doc, c.post(SECRETS, json={}, headers=real), SECRETS, "post")["value"].startswith("ek_")
        for bad in (
            {"expires_after": {"seconds": 9}},
            {"expires_after": {"seconds": 7201}},
            {"expires_after": {"anchor": "now", "seconds": 60}},
            {"session": {"type": "realtime"}},
            {"session": {"audio": {"input": {"transcription": {"model": "tts-1"}}}}},
            {"session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}},
        ):
            refused = conforming(doc, c.post(SECRETS, json=bad, headers=real), SECRETS, "post")
            assert refused["error"]["type"] and refused["error"]["code"], bad
        for key in (None, minted["value"]):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            answer = c.post(SECRETS, json={}, headers=headers)
            assert answer.status_code == 401
            assert conforming(doc, answer, SECRETS, "post")["error"]["code"] == "invalid_api_key"


def test_docs_come_from_this_server(fast_client: httpx.Client) -> None:
    page = fast_client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from a CDN
    for source in sources:
        assert fast_client.get(source).status_code == 200, source


def test_the_live_server_keeps_to_its_document(fast: FastServer) -> None:
    """Generated requests for every operation: no 5xx, and every answer's status, content type and body
    are ones the document declares."""
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    live = schemathesis.openapi.from_url(f"{fast.url}/openapi.json")
    operations = [result.ok() for result in live.get_all_operations()]
    assert len(operations) >= 19
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=checks)

        run()
