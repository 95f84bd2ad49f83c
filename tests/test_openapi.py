"""/openapi.json describes both surfaces, validates as OpenAPI 3.1, and the live server keeps to it under
schemathesis; /docs renders it from files this server serves itself."""

from __future__ import annotations

import re

import httpx
import schemathesis
from fakes import FastServer
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engines.models.registry_files import load_registry
from server.config import PROJECT_ROOT, Settings
from server.openapi import document


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
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=checks)

        run()
