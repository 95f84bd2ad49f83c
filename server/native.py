"""The native surface: /v1/inference/audio/*, answering in the {"status", "data"} envelope."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engines.models.registry import ModelEntry
from server import handlers, management, render
from server.core import Core
from server.errors import model_not_found


async def transcribe(request: Request) -> Response:
    return await handlers.transcription(request, "text", "transcribe", render.native)


async def synthesize(request: Request) -> Response:
    return await handlers.speech(request)


async def list_models(request: Request) -> JSONResponse:
    """Every registry entry, installed or not, with its state."""
    core: Core = request.app.state.core
    return JSONResponse({"status": "ok", "data": [_model(core, entry) for entry in core.registry.models.values()]})


async def retrieve_model(request: Request) -> JSONResponse:
    """One entry with its state, and the progress of a pull of it (`POST /v1/models/{id}`), if any."""
    core: Core = request.app.state.core
    slug = request.path_params["model"]
    job = request.app.state.management.job(slug)
    entry = core.registry.resolve(slug) or (core.registry.resolve(job.slug) if job is not None else None)
    if entry is None and job is None:
        raise model_not_found(slug)
    data = _model(core, entry) if entry is not None else {"id": job.slug, "state": "not downloaded"}
    if job is not None:
        data["pull"] = job.view()
    return JSONResponse({"status": "ok", "data": data})


def _model(core: Core, entry: ModelEntry) -> dict[str, Any]:
    served = core.served
    body: dict[str, Any] = {
        "id": entry.slug,
        "aliases": list(entry.aliases),
        "task": entry.task,
        "description": entry.description,
        "license": entry.license,
        "state": "installed" if entry.slug in served.installed.models else "not downloaded",
        "loaded": f"model:{entry.slug}" in core.loader.loaded(),
    }
    if entry.diarizing_aliases:
        body["diarizing_aliases"] = list(entry.diarizing_aliases)
    if entry.task == "synthesis":
        voices = core.registry.voices
        body["voices"] = {
            name: {
                "voice": m.voice,
                "speaker_id": m.speaker_id,
                "language": voices[m.voice].speaks or None,
                "gender": voices[m.voice].gender or None,
            }
            for name, m in served.voice_map.items()
        }
    return body


routes = [
    Route("/v1/inference/audio/transcribe", transcribe, methods=["POST"]),
    Route("/v1/inference/audio/synthesize", synthesize, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
    Route("/v1/models/{model:path}", management.pull, methods=["POST"]),
    Route("/v1/models/{model:path}", management.remove, methods=["DELETE"]),
]
