"""WebSocket connections behind the app's own middleware: keys on the upgrade, request ids, log lines, metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets.exceptions
import websockets.sync.client
from conftest import metric
from fakes import LOOPBACK_TLS
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from server.app import middleware
from server.auth import BearerAuth
from server.config import Settings
from server.metrics import Metrics
from server.protocol import guarded_protocol
from server.testing import ThreadedServer, free_port, serve_in_thread, wait_for

KEY = "sk-ws-1"
KEY_SUBPROTOCOL = f"openai-insecure-api-key.{KEY}"


@dataclass
class EchoServer(ThreadedServer):
    """The app's middleware around a few WebSocket routes, served by uvicorn on loopback from a thread."""

    seen: list[list[str]] = field(default_factory=list)
    """The subprotocols each call of a route's handler saw: one entry per time the app ran."""

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)


def echo_app(settings: Settings, seen: list[list[str]]) -> Starlette:
    metrics = Metrics()

    async def echo(websocket: WebSocket) -> None:
        seen.append(list(websocket.scope["subprotocols"]))
        offered = "realtime" in websocket.scope["subprotocols"]
        await websocket.accept(subprotocol="realtime" if offered else None)
        async for text in websocket.iter_text():
            if text == "fail":
                raise RuntimeError("the echo handler broke")
            await websocket.send_text(text)

    async def broken(websocket: WebSocket) -> None:
        seen.append(list(websocket.scope["subprotocols"]))
        raise RuntimeError("broke before the accept")

    async def reader(websocket: WebSocket) -> None:
        """Reads until the client hangs up, and lets Starlette's `WebSocketDisconnect` out, as many apps do."""
        seen.append(list(websocket.scope["subprotocols"]))
        await websocket.accept()
        while True:
            await websocket.receive_text()

    return Starlette(
        routes=[
            WebSocketRoute("/test/echo", echo),
            WebSocketRoute("/test/broken", broken),
            WebSocketRoute("/test/reader", reader),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
        ],
        middleware=middleware(settings, metrics),
    )


def start_echo_server(settings: Settings) -> EchoServer:
    seen: list[list[str]] = []
    # No log config of uvicorn's own: its loggers then reach the root logger, where caplog sees them.
    app = echo_app(settings, seen)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        log_config=None,
        lifespan="off",
        # The server's own HTTP protocol, with its deadline for a request's headers.
        http=guarded_protocol(settings.header_timeout_s),
    )
    served = serve_in_thread(config)
    return EchoServer(url=served.url, server=served.server, thread=served.thread, seen=seen)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServer]:
    running = start_echo_server(Settings(cache_dir=tmp_path_factory.mktemp("ws"), api_keys=frozenset({KEY})))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServer]:
    running = start_echo_server(Settings(cache_dir=tmp_path_factory.mktemp("ws")))
    yield running
    running.stop()


@pytest.fixture()
def ws() -> Any:
    """websockets' sync client: a real client, as an OpenAI realtime SDK would be."""
    return websockets.sync.client


def connect(ws: Any, url: str, headers: dict[str, str] | None = None, subprotocols: list[str] | None = None) -> Any:
    return ws.connect(
        url, additional_headers=headers, subprotocols=subprotocols, proxy=None, open_timeout=10, close_timeout=5
    )


def refused(ws: Any, url: str, **how: Any) -> tuple[dict[str, Any], int]:
    """What a connection with no valid key hears: its one event, and the close's code."""
    with connect(ws, url, **how) as socket:
        event: dict[str, Any] = json.loads(socket.recv(timeout=5))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            socket.recv(timeout=5)
    received = closed.value.rcvd
    assert received is not None
    return event, received.code


def access_lines(caplog: pytest.LogCaptureFixture, request_id: str) -> list[logging.LogRecord]:
    """The server writes a connection's line as it winds down, a moment after the client has closed."""
    return wait_for(
        lambda: [r for r in caplog.records if r.name == "server.access" and r.fields["id"] == request_id],  # type: ignore[attr-defined]
        3,
        message=f"no access line for {request_id}",
    )


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"headers": {"Authorization": "Bearer sk-wrong"}},
        {"subprotocols": ["realtime", "openai-insecure-api-key.sk-wrong"]},
    ],
    ids=["no key", "wrong bearer", "wrong subprotocol"],
)
def test_a_socket_without_a_valid_key_is_refused_before_the_app(keyed: EchoServer, ws: Any, how: Any) -> None:
    before = len(keyed.seen)
    # As OpenAI's realtime API: one `error` event, then close 3000; the app never sees the socket.
    event, code = refused(ws, keyed.ws_url + "/test/echo", **how)
    assert event["type"] == "error" and event["error"]["code"] == "invalid_api_key"
    assert code == 3000
    assert len(keyed.seen) == before, "the app saw a socket that had no valid key"


def test_a_right_key_in_the_bearer_header_opens_the_socket(keyed: EchoServer, ws: Any) -> None:
    with connect(ws, keyed.ws_url + "/test/echo", headers={"Authorization": f"Bearer {KEY}"}) as socket:
        socket.send("hello")
        assert socket.recv(timeout=5) == "hello"


def test_a_right_key_as_a_subprotocol_opens_the_socket_and_stays_hidden(keyed: EchoServer, ws: Any) -> None:
    with connect(ws, keyed.ws_url + "/test/echo", subprotocols=["realtime", KEY_SUBPROTOCOL]) as socket:
        assert socket.subprotocol == "realtime"
        socket.send("hello")
        assert socket.recv(timeout=5) == "hello"
    assert keyed.seen[-1] == ["realtime"], "the app was offered the key as a subprotocol"


def test_without_keys_sockets_are_open(open_server: EchoServer, ws: Any) -> None:
    with connect(ws, open_server.ws_url + "/test/echo") as socket:
        socket.send("hello")
        assert socket.recv(timeout=5) == "hello"
    # A key offered to a server without keys is still kept from the app.
    with connect(ws, open_server.ws_url + "/test/echo", subprotocols=["realtime", KEY_SUBPROTOCOL]) as socket:
        assert socket.subprotocol == "realtime"
    assert open_server.seen[-1] == ["realtime"]


def test_the_handshake_carries_the_request_id(keyed: EchoServer, ws: Any) -> None:
    url = keyed.ws_url + "/test/echo"
    with connect(ws, url, headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "ws-own-1"}) as socket:
        assert socket.response.headers["x-request-id"] == "ws-own-1"
    with connect(ws, url, headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "not sane!"}) as socket:
        made = socket.response.headers["x-request-id"]
        assert made != "not sane!" and len(made) == 32


def test_one_access_line_per_connection(keyed: EchoServer, ws: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="server.access")
    url = keyed.ws_url + "/test/echo"
    with connect(ws, url, headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "ws-line-1"}) as socket:
        socket.send("one")
        socket.recv(timeout=5)
        socket.send("two")
        socket.recv(timeout=5)
    refused(ws, url, headers={"X-Request-Id": "ws-line-2"})

    lines = access_lines(caplog, "ws-line-1")
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert (fields["method"], fields["route"], fields["status"]) == ("WS", "/test/echo", 101)
    assert fields["time_s"] > 0
    (refusal,) = access_lines(caplog, "ws-line-2")
    assert (refusal.fields["method"], refusal.fields["status"]) == ("WS", 401)  # type: ignore[attr-defined]


def test_each_connection_is_counted_and_timed(keyed: EchoServer, ws: Any) -> None:
    sessions, seconds = "audio_websocket_sessions_total", "audio_websocket_session_seconds_count"
    with httpx.Client(
        verify=LOOPBACK_TLS, base_url=keyed.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as http:
        accepted = metric(http, sessions, route="/test/echo", status="101")
        timed = metric(http, seconds, route="/test/echo")
        turned_away = metric(http, sessions, status="401")
        with connect(ws, keyed.ws_url + "/test/echo", headers={"Authorization": f"Bearer {KEY}"}) as socket:
            assert metric(http, "audio_websocket_open_sessions", route="/test/echo") == 1
            socket.send("hello")
            socket.recv(timeout=5)
        refused(ws, keyed.ws_url + "/test/echo")

        wait_for(lambda: metric(http, "audio_websocket_open_sessions", route="/test/echo") == 0, 3)
        assert metric(http, sessions, route="/test/echo", status="101") == accepted + 1
        assert metric(http, seconds, route="/test/echo") == timed + 1
        assert metric(http, sessions, status="401") == turned_away + 1


def test_an_error_in_an_open_socket_closes_it_with_1011_logged_once(
    keyed: EchoServer, ws: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = keyed.ws_url + "/test/echo"
    with connect(ws, url, headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "ws-bug-1"}) as socket:
        socket.send("fail")
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
            socket.recv(timeout=5)
    received = closed.value.rcvd
    assert received is not None and received.code == 1011

    (line,) = access_lines(caplog, "ws-bug-1")
    assert line.fields["status"] == 500  # type: ignore[attr-defined]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].name == "server.errors" and "ws-bug-1" in errors[0].getMessage()


def test_an_error_before_the_accept_refuses_the_socket_logged_once(
    keyed: EchoServer, ws: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = keyed.ws_url + "/test/broken"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refusal:
        connect(ws, url, headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "ws-bug-2"}).close()
    response = refusal.value.response
    assert response.status_code == 403 and b"Traceback" not in response.body

    (line,) = access_lines(caplog, "ws-bug-2")
    assert line.fields["status"] == 500  # type: ignore[attr-defined]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].name == "server.errors" and "ws-bug-2" in errors[0].getMessage()


def test_a_client_hanging_up_is_no_error(keyed: EchoServer, ws: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    url = keyed.ws_url + "/test/reader"
    with connect(ws, url, headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "ws-bye-1"}) as socket:
        socket.send("anyone there?")

    (line,) = access_lines(caplog, "ws-bye-1")
    assert line.fields["status"] == 101  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_refusal_is_an_error_event_and_close_3000() -> None:
    """What the app sends the server for a refused socket: the accept (choosing `realtime` where the
    client offered it), the error, and the close with its reason; the key-bearing subprotocol is dropped."""
    ran: list[str] = []
    sent: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(scope["path"])

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    offered = ["realtime", "openai-insecure-api-key.sk-wrong"]
    scope = {"type": "websocket", "path": "/test/echo", "headers": [], "subprotocols": offered}
    asyncio.run(BearerAuth(app, keys=frozenset({KEY}))(scope, receive, send))
    assert ran == []
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[0]["subprotocol"] == "realtime"
    assert json.loads(sent[1]["text"])["error"]["code"] == "invalid_api_key"
    assert (sent[2]["code"], sent[2]["reason"]) == (3000, "invalid_request_error.invalid_api_key")


def test_a_socket_outlives_the_deadline_for_headers(ws: Any, tmp_path: Path) -> None:
    # The deadline for a request's headers is for HTTP: once upgraded, a socket stays open for as long
    # as it is used (a live transcription lasts minutes).
    running = start_echo_server(Settings(cache_dir=tmp_path, header_timeout_s=0.3))
    try:
        with connect(ws, running.ws_url + "/test/echo") as socket:
            time.sleep(0.8)
            socket.send("still here")
            assert socket.recv(timeout=5) == "still here"
    finally:
        running.stop()
