"""Bearer-key authentication, when keys are configured; an open server otherwise."""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ApiError
from server.surfaces import error_response

OPEN_PATHS = frozenset({"/health", "/ready", "/", "/docs", "/openapi.json"})
"""Paths anyone may read: probes, and the pages (which send the key they are given with each call)."""
OPEN_PREFIXES = ("/static/", "/docs/assets/")


class BearerAuth:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        # Digests, so that every comparison is of 32 bytes whatever the keys' lengths.
        self.digests = tuple(hashlib.sha256(k.encode()).digest() for k in keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.digests
            or scope["path"] in OPEN_PATHS
            or scope["path"].startswith(OPEN_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        if not self._valid(_bearer(scope)):
            error = ApiError(
                401,
                "invalid_api_key",
                "Missing or invalid API key; send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await error_response(scope["path"], error)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _valid(self, presented: bytes | None) -> bool:
        """Compares against every key with no early exit, so the time taken does not tell which key
        matched (or how far one matched); the key itself is never logged."""
        digest = hashlib.sha256(presented or b"").digest()
        matched = False
        for key in self.digests:
            matched |= hmac.compare_digest(digest, key)
        return matched and presented is not None


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
    return None
