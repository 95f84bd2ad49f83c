"""Bearer-key authentication, when keys are configured; an open server otherwise."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ApiError
from server.realtime.secrets import EPHEMERAL_SESSION, EphemeralKeys
from server.requestlog import REFUSED_KEY
from server.surfaces import error_response

OPEN_PATHS = frozenset({"/health", "/ready", "/", "/favicon.ico", "/docs", "/openapi.json"})
"""Paths anyone may read: probes, and the pages (which send the key they are given with each call)."""
OPEN_PREFIXES = ("/static/", "/docs/assets/")
KEY_SUBPROTOCOL = "openai-insecure-api-key."
KEY_CLOSE = 3000
"""The close code OpenAI's realtime API gives a socket whose key it refuses."""
"""Browsers cannot set headers on a WebSocket, so OpenAI's realtime clients offer the key as a subprotocol."""


class BearerAuth:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        # Digests, so that every comparison is of 32 bytes whatever the keys' lengths.
        self.digests = tuple(hashlib.sha256(k.encode()).digest() for k in keys)
        self.ephemeral = EphemeralKeys(keys)
        """`ek_…` keys open WebSockets (live transcription from a page), not the HTTP routes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if (
            scope["type"] != "http"
            or not self.digests
            or scope["path"] in OPEN_PATHS
            or scope["path"].startswith(OPEN_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        if not self._valid(presented):
            error = ApiError(
                401,
                "invalid_api_key",
                "Missing or invalid API key; send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await error_response(scope["path"], error)(scope, receive, send)
            return
        _identify(scope, presented)
        await self.app(scope, receive, send)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every WebSocket path needs a key, checked on the upgrade: a refused socket never reaches the app."""
        offered = scope.get("subprotocols", [])
        # The app never sees the key, so it cannot pick it as the subprotocol and echo it back.
        scope["subprotocols"] = [p for p in offered if not p.startswith(KEY_SUBPROTOCOL)]
        if not self.digests:
            await self.app(scope, receive, send)
            return
        keys = [p[len(KEY_SUBPROTOCOL) :].encode() for p in offered if p.startswith(KEY_SUBPROTOCOL)]
        presented = _bearer(scope) or (keys[0] if keys else None)
        minted_for = self.ephemeral.session(presented)
        if minted_for is not None:
            # The session the key was minted for, which the socket's session starts as.
            scope.setdefault("state", {})[EPHEMERAL_SESSION] = minted_for
        if self._valid(presented) or minted_for is not None:
            _identify(scope, presented)
            await self.app(scope, receive, send)
            return
        await receive()  # the upgrade's `websocket.connect` comes before any answer to it
        # As OpenAI's realtime API does: the upgrade succeeds, one `error` event says why, and the socket
        # closes with 3000 at once, before the app (and any session) sees it. Clients then show the error
        # instead of a bare failed handshake.
        scope.setdefault("state", {})[REFUSED_KEY] = True
        chosen = "realtime" if "realtime" in scope["subprotocols"] else None
        await send({"type": "websocket.accept", "subprotocol": chosen, "headers": []})
        error = {
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "message": "Missing or invalid API key; send 'Authorization: Bearer <key>' or the subprotocol "
            f"'{KEY_SUBPROTOCOL}<key>'",
            "param": None,
            "event_id": None,
        }
        event = {"type": "error", "event_id": "event_" + secrets.token_hex(10), "error": error}
        await send({"type": "websocket.send", "text": json.dumps(event)})
        await send({"type": "websocket.close", "code": KEY_CLOSE, "reason": "invalid_request_error.invalid_api_key"})

    def _valid(self, presented: bytes | None) -> bool:
        """Compares against every key with no early exit, so the time taken does not tell which key
        matched (or how far one matched); the key itself is never logged."""
        digest = hashlib.sha256(presented or b"").digest()
        matched = False
        for key in self.digests:
            matched |= hmac.compare_digest(digest, key)
        return matched and presented is not None


def _identify(scope: Scope, key: bytes | None) -> None:
    """Which key made the request, for what belongs to a key (its jobs): a digest, never the key."""
    if key is not None:
        scope.setdefault("state", {})["api_key_id"] = hashlib.sha256(b"audio-server key:" + key).hexdigest()[:32]


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            key: bytes = token.strip()
            if scheme.lower() == b"bearer" and key:
                return key
    return None
