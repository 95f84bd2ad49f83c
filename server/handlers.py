"""The parse → core → render flow that both surfaces share; each passes its own renderer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response

from engines.base import Segment, TranscriptInfo
from server.cancel import Cancellation
from server.core import Core
from server.parsing import read_form, read_json, speech_request, transcription_request
from server.render import TranscriptView
from server.streaming import speech_events, speech_response, sse_response, transcript_events
from server.threads import run_blocking

Renderer = Callable[[TranscriptInfo, Sequence[Segment], TranscriptView], Response]


@contextlib.asynccontextmanager
async def watching_disconnect(request: Request, cancel: Cancellation) -> AsyncIterator[None]:
    """While the body is read and the work runs, a client that hangs up sets `cancel`."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.leave()

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def transcription(request: Request, default_format: str, task: str, render: Renderer) -> Response:
    core: Core = request.app.state.core
    upload = core.uploads.begin()
    try:
        form = await read_form(request, core.settings.max_upload_bytes, core.pace, upload)
    except BaseException:
        upload.release()
        raise
    try:
        parsed, view, stream = transcription_request(
            form, default_format, task, core.settings.vad_default, core.registry.diarizing
        )
        cancel = Cancellation()
        async with watching_disconnect(request, cancel):
            if stream:
                events = transcript_events(
                    await core.transcribe_stream(parsed, cancel), segments=view.response_format == "diarized_json"
                )
                return sse_response(events)
            info, segments = await core.transcribe(parsed, cancel)
        # Hours of word timings make a large body; build it off the event loop too.
        return await run_blocking(lambda: render(info, segments, view))
    finally:
        await form.close()
        upload.release()


async def speech(request: Request) -> Response:
    core: Core = request.app.state.core
    parsed = speech_request(await read_json(request, core.pace))
    cancel = Cancellation()
    async with watching_disconnect(request, cancel):
        result = await core.synthesize(parsed, cancel)
    if parsed.stream_format == "sse":
        return sse_response(speech_events(result))
    return speech_response(result)
