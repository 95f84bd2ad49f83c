"""The native surface: /v1/inference/audio/*, answering in the {"status", "data"} envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import render
from server.core import Core
from server.parsing import read_form, read_json, speech_request, transcription_request
from server.streaming import speech_response, sse_response, transcript_events


async def transcribe(request: Request) -> Response:
    core: Core = request.app.state.core
    form = await read_form(request, core.settings.max_upload_bytes)
    try:
        parsed, view, stream = transcription_request(form, "text", "transcribe", core.settings.vad_default)
        if stream:
            return sse_response(transcript_events(await core.transcribe_stream(parsed)))
        info, segments = await core.transcribe(parsed)
        return render.native(info, segments, view)
    finally:
        await form.close()


async def synthesize(request: Request) -> Response:
    core: Core = request.app.state.core
    speech = await core.synthesize(speech_request(await read_json(request)))
    return speech_response(speech)


routes = [
    Route("/v1/inference/audio/transcribe", transcribe, methods=["POST"]),
    Route("/v1/inference/audio/synthesize", synthesize, methods=["POST"]),
]
