"""The native surface: /v1/inference/audio/*, answering in the {"status", "data"} envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import handlers, render


async def transcribe(request: Request) -> Response:
    return await handlers.transcription(request, "text", "transcribe", render.native)


async def synthesize(request: Request) -> Response:
    return await handlers.speech(request)


routes = [
    Route("/v1/inference/audio/transcribe", transcribe, methods=["POST"]),
    Route("/v1/inference/audio/synthesize", synthesize, methods=["POST"]),
]
