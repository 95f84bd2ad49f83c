"""Server-sent events for streamed transcripts and streamed speech (both surfaces)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from server.core.requests import Speech, TranscriptStream
from server.errors import ApiError
from server.render import diarized_segment, usage

log = logging.getLogger(__name__)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


async def transcript_events(stream: TranscriptStream, segments: bool = False) -> AsyncIterator[bytes]:
    """`transcript.text.delta` per decoded segment, then `transcript.text.done` with the full text.

    With `segments` (`diarized_json`), `transcript.text.segment` events instead of deltas: clients
    that print both kinds would print the text twice, and the hosted API sends only segments there."""
    parts: list[str] = []
    try:
        async for segment in stream.segments:
            if segments:
                parts.append(segment.text)
                yield event(diarized_segment(segment, len(parts) - 1))
                continue
            # The first delta carries no leading space, so the deltas join to the done text.
            delta = segment.text.lstrip() if not parts else segment.text
            parts.append(delta)
            yield event({"type": "transcript.text.delta", "delta": delta})
    except ApiError as error:
        # After the 200 has gone out, an error (the time limit) can only be an event.
        yield event({"type": "error", "error": {"code": error.code, "message": error.message}})
        return
    yield event({"type": "transcript.text.done", "text": "".join(parts).strip(), "usage": usage(stream.info)})


async def speech_events(speech: Speech) -> AsyncIterator[bytes]:
    """`speech.audio.delta` with base64 audio per encoded chunk, then `speech.audio.done`.

    The hosted API's `done` event also counts tokens; Piper has no tokens, so no usage is sent
    rather than numbers that would mean something else."""
    try:
        async for chunk in speech.chunks:
            yield event({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode("ascii")})
    except ApiError as error:
        yield event({"type": "error", "error": {"code": error.code, "message": error.message}})
        return
    yield event({"type": "speech.audio.done"})


def speech_response(speech: Speech) -> StreamingResponse:
    return StreamingResponse(_until_error(speech.chunks), media_type=speech.format.media_type)


async def _until_error(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Raw audio has no way to carry an error after the 200: end the body, and log why."""
    try:
        async for chunk in chunks:
            yield chunk
    except ApiError as error:
        log.warning("synthesis stream ended early: %s", error)
