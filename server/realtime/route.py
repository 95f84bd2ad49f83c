"""`/oai/v1/realtime?intent=transcription`: the WebSocket front door of live transcription."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.core import Core
from server.errors import ApiError, invalid
from server.parsing import read_json
from server.realtime.secrets import DEFAULT_S, EPHEMERAL_SESSION, MAX_S, MIN_S, EphemeralKeys
from server.realtime.session import Config, ProtocolError, Session, new_id, updated, view

PATH = "/oai/v1/realtime"
SHAPE_CLOSE = 4000
"""OpenAI's close code for a session it will not open (the request's shape)."""


async def realtime(websocket: WebSocket) -> None:
    core: Core = websocket.app.state.core
    # A browser that offered subprotocols fails the handshake unless one is chosen.
    await websocket.accept(subprotocol="realtime" if "realtime" in websocket.scope["subprotocols"] else None)
    lock = asyncio.Lock()

    async def send(event: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_text(json.dumps(event, ensure_ascii=False))

    intent = websocket.query_params.get("intent")
    model = None
    named = websocket.query_params.get("model")
    if named:
        try:
            model = core.model(named, "transcription").slug
        except ApiError:
            model = None  # a conversation model's name (the beta client must send one)
    # A transcription model named with no intent (openai-node before 7.5 can send nothing else) is as
    # plain a request for a transcription session as the intent.
    if intent != "transcription" and not (intent is None and model is not None):
        why = "This server serves transcription sessions: connect with ?intent=transcription"
        await _refuse(send, websocket, "invalid_intent", why)
        return
    # Older clients (the Python SDK's `client.beta.realtime`) say they speak the beta dialect so.
    beta = websocket.headers.get("openai-beta", "").replace(" ", "") == "realtime=v1" or (
        "openai-beta.realtime-v1" in websocket.scope["subprotocols"]
    )
    session = Session(core, send, model, beta, websocket.app.state.previews)
    minted_for = (websocket.scope.get("state") or {}).get(EPHEMERAL_SESSION)
    if minted_for:
        # Checked when the key was minted; a model uninstalled since is an error event, not a refusal.
        with contextlib.suppress(ProtocolError):
            session.configure(updated(core, session.config, minted_for))
    await session.start()
    settings = core.settings
    ends = time.monotonic() + settings.realtime_max_s
    try:
        while True:
            left = ends - time.monotonic()
            try:
                message = await asyncio.wait_for(websocket.receive(), min(settings.realtime_idle_s, max(0.0, left)))
            except TimeoutError:
                over = time.monotonic() >= ends
                code = "session_expired" if over else "session_idle"
                why = (
                    f"The session reached its maximum length of {settings.realtime_max_s:.0f} s"
                    if over
                    else f"No event came for {settings.realtime_idle_s:.0f} s"
                )
                await session.error(code, why)
                await websocket.close(1000, code)
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await session.error(
                    "invalid_event", "Expected a text WebSocket message; binary frames are not supported."
                )
                continue
            await session.receive(text)
    except WebSocketDisconnect:
        return
    finally:
        await session.close()


async def _refuse(send: Any, websocket: WebSocket, code: str, message: str) -> None:
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": None, "event_id": None}
    await send({"type": "error", "event_id": new_id("event"), "error": error})
    await websocket.close(SHAPE_CLOSE, f"invalid_request_error.{code}")


async def client_secrets(request: Request) -> JSONResponse:
    """`POST /oai/v1/realtime/client_secrets`: an `ek_…` key for a page to open sessions with."""
    core: Core = request.app.state.core
    body = await read_json(request, core.pace)
    seconds = DEFAULT_S
    expires_after = body.get("expires_after")
    if expires_after is not None:
        if not isinstance(expires_after, dict) or expires_after.get("anchor", "created_at") != "created_at":
            raise invalid("expires_after", '\'expires_after\' must be {"anchor": "created_at", "seconds": N}')
        seconds = expires_after.get("seconds", DEFAULT_S)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_S <= seconds <= MAX_S:
            raise invalid("expires_after.seconds", f"'seconds' must be a whole number from {MIN_S} to {MAX_S}")
    config = Config()
    session = body.get("session")
    if session is not None:
        if not isinstance(session, dict):
            raise invalid("session", "'session' must be an object")
        try:
            config = updated(core, config, session)
        except ProtocolError as exc:
            raise ApiError(400, exc.code, exc.message, exc.param) from None
    key, expires_at = EphemeralKeys(core.settings.api_keys).mint(seconds, session)
    return JSONResponse({"value": key, "expires_at": expires_at, "session": view(config, new_id("sess"), 0)})


routes = [
    WebSocketRoute(PATH, realtime),
    Route(PATH + "/client_secrets", client_secrets, methods=["POST"]),
]
