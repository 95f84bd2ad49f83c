"""Bearer-key authentication, when keys are configured; an open server otherwise."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ApiError
from server.surfaces import error_response

OPEN_PATHS = frozenset({"/health", "/ready"})


class BearerAuth:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self.keys = tuple(k.encode() for k in keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        # compare_digest on every key keeps the check constant-time; the key is never logged.
        if presented is None or not any(hmac.compare_digest(presented, k) for k in self.keys):
            error = ApiError(
                401,
                "invalid_api_key",
                "Missing or invalid API key; send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await error_response(scope["path"], error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
    return None
