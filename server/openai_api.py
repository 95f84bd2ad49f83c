"""The OpenAI-compatible surface under /oai/v1: same core, OpenAI's request and response shapes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engines.models.registry import ModelEntry
from server import handlers, render
from server.core import Core
from server.errors import model_not_found, model_not_installed
from server.surfaces import OPENAI_PREFIX as PREFIX

CREATED = 1_700_000_000  # models have no meaningful creation time here; a fixed one keeps lists stable


async def transcriptions(request: Request) -> Response:
    return await handlers.transcription(request, "json", "transcribe", render.openai)


async def translations(request: Request) -> Response:
    return await handlers.transcription(request, "json", "translate", render.openai)


async def speech(request: Request) -> Response:
    return await handlers.speech(request)


async def list_models(request: Request) -> JSONResponse:
    """What can be used now: a model that is not installed is not listed (`GET /v1/models` lists all)."""
    core: Core = request.app.state.core
    data = [_model(name, entry) for entry in core.served.models() for name in entry.names]
    return JSONResponse({"object": "list", "data": data})


async def retrieve_model(request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    slug = request.path_params["model"]
    entry = core.registry.resolve(slug)
    if entry is None:
        raise model_not_found(slug)
    if not core.served.usable(entry):
        raise model_not_installed(entry)
    return JSONResponse(_model(slug, entry))


async def list_voices(request: Request) -> JSONResponse:
    """Every voice name that can be used now, with the voice and speaker it is spoken with, and that voice's
    language and gender (null where its entry does not say)."""
    core: Core = request.app.state.core
    described = core.registry.voices
    voices = [
        {
            "id": name,
            "name": name,
            "voice": mapping.voice,
            "speaker_id": mapping.speaker_id,
            "language": described[mapping.voice].speaks or None,
            "gender": described[mapping.voice].gender or None,
        }
        for name, mapping in core.served.voices()
    ]
    return JSONResponse({"voices": voices, "data": voices})


def _model(slug: str, entry: ModelEntry) -> dict[str, Any]:
    return {
        "id": slug,
        "object": "model",
        "created": CREATED,
        "owned_by": slug.split("/", 1)[0] if "/" in slug else "local",
        "task": entry.task,
        "root": entry.slug,
        "description": entry.description,
        "license": entry.license,
    }


routes = [
    Route(f"{PREFIX}/audio/transcriptions", transcriptions, methods=["POST"]),
    Route(f"{PREFIX}/audio/translations", translations, methods=["POST"]),
    Route(f"{PREFIX}/audio/speech", speech, methods=["POST"]),
    Route(f"{PREFIX}/audio/voices", list_voices, methods=["GET"]),
    Route(f"{PREFIX}/models", list_models, methods=["GET"]),
    Route(f"{PREFIX}/models/{{model:path}}", retrieve_model, methods=["GET"]),
]
