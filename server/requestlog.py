"""Request ids and one structured log line per request; the one place an unexpected error is logged."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import time
import uuid
from dataclasses import asdict, dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from server.errors import ApiError
from server.surfaces import error_response

log = logging.getLogger("server.access")
errors_log = logging.getLogger("server.errors")
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class RequestRecord:
    """What one request did, filled in by the core as it learns it, logged when the response ends."""

    id: str
    method: str
    route: str
    status: int = 0
    model: str | None = None
    audio_seconds: float | None = None
    queue_wait_s: float | None = None
    time_s: float = 0.0


_current: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar("request", default=None)


def current() -> RequestRecord | None:
    """The record of the request being served here (worker threads see it too), if any."""
    return _current.get()


class RequestLog:
    """Gives every response an `X-Request-Id` (the client's own, when it sends a sane one), logs one line
    per request, and answers an unexpected error with a 500 in the surface's envelope, logged once.
    A WebSocket connection gets the same: its id on the handshake's answer, its line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(id=_request_id(scope), method=scope["method"], route=scope["path"])
        token = _current.set(record)
        started = time.perf_counter()
        header = (b"x-request-id", record.id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Logged here once, with the request id; not re-raised, so the server does not log it again.
            errors_log.exception("unhandled error in request %s on %s", record.id, scope["path"])
            if record.status == 0:
                error = ApiError(500, "internal_error", f"The server failed on this request (id {record.id})")
                await error_response(scope["path"], error)(scope, receive, send_with_id)
            else:
                record.status = 500
        finally:
            _log_line(record, scope, started)
            _current.reset(token)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The line's status is the handshake's (see `handshake_status`), or 500 when the app failed, as
        for HTTP; it is logged when the connection ends, with how long it was open."""
        record = RequestRecord(id=_request_id(scope), method="WS", route=scope["path"])
        token = _current.set(record)
        started = time.perf_counter()
        header = (b"x-request-id", record.id.encode())
        finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal finished
            if record.status == 0:
                record.status = handshake_status(message, scope) or 0
                if message["type"] != "websocket.close":
                    message["headers"] = [*message.get("headers", []), header]
            finished = finished or message["type"] in ("websocket.close", "websocket.http.response.start")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except WebSocketDisconnect:
            pass  # the client hung up while the app was reading: nothing failed, and nobody is left to tell
        except Exception:
            errors_log.exception("unhandled error in WebSocket %s on %s", record.id, scope["path"])
            if not finished:
                # 1011: the server met an unexpected condition. Before the accept the server answers this
                # with a bare 403 (see server/auth.py for why not a 500 response). A client that has gone, or
                # a socket the server closed already, cannot be told: the server raises OSError or RuntimeError.
                with contextlib.suppress(OSError, RuntimeError):
                    await send_with_id({"type": "websocket.close", "code": 1011})
            record.status = 500
        finally:
            record.status = record.status or 500  # no handshake at all: the server answers a 500 for the app
            _log_line(record, scope, started)
            _current.reset(token)


REFUSED_KEY = "websocket_key_refused"
"""Set in a WebSocket's scope state when its key was refused after the accept."""


def handshake_status(message: Message, scope: Scope) -> int | None:
    """The HTTP status with which the app's `message` ends a WebSocket handshake: 101 for the accept, a
    refusal's own, and 403 for a close before the accept (the server answers that so); None for others.
    A socket accepted only to be told its key is wrong (as OpenAI's realtime clients expect) counts as 401."""
    if message["type"] == "websocket.accept":
        return 401 if (scope.get("state") or {}).get(REFUSED_KEY) else 101
    if message["type"] == "websocket.http.response.start":
        return int(message["status"])
    if message["type"] == "websocket.close":
        return 403
    return None


def _log_line(record: RequestRecord, scope: Scope, started: float) -> None:
    record.time_s = round(time.perf_counter() - started, 4)
    record.route = getattr(scope.get("route"), "path", record.route)
    log.info("request", extra={"fields": asdict(record)})


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _VALID_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, with the request's fields on access lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure_logging(log_format: str, level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
