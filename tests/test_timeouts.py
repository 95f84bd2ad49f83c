"""Slow and silent clients, on raw sockets: each is closed within its configured time, and what an
abandoned upload had spooled is gone (fast layer)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from fakes import FastServer

from server.testing import wait_for

TRANSCRIBE = "/v1/inference/audio/transcribe"
LIMITS = {
    "header_timeout_s": 0.3,
    "body_idle_timeout_s": 0.3,
    "min_upload_kbps": 8.0,
    "upload_grace_s": 0.3,
    "keep_alive_s": 1.0,  # uvicorn counts it in whole seconds
}


@pytest.fixture()
def strict(fast_server_with: Callable[..., FastServer]) -> FastServer:
    return fast_server_with(**LIMITS)


def connect(server: FastServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    return conn


def closed_after(conn: socket.socket, within: float) -> tuple[float, bytes]:
    """Seconds until the server closes `conn`, and what it sent before."""
    started = time.monotonic()
    conn.settimeout(within)
    received = b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {within} s") from None
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


def multipart_head(server: FastServer, length: int) -> bytes:
    host = server.url.removeprefix("http://")
    return (
        f"POST {TRANSCRIBE} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def part_start() -> bytes:
    return b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n' + (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    )


def spooled_files() -> int:
    """Open files of this process (the fast server's) that are deleted temporary files: spooled uploads."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith("/tmp") and target.endswith("(deleted)")
    return count


def test_a_silent_connection_is_closed(strict: FastServer) -> None:
    with connect(strict) as conn:
        seconds, _ = closed_after(conn, within=5)
    assert seconds < LIMITS["header_timeout_s"] + 1


def test_headers_sent_a_byte_at_a_time_are_cut_off(strict: FastServer) -> None:
    with connect(strict) as conn:
        started = time.monotonic()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for byte in multipart_head(strict, 100) * 10:
                conn.send(bytes([byte]))
                time.sleep(0.05)
                assert time.monotonic() - started < 5, "the server kept reading headers"
    assert time.monotonic() - started < LIMITS["header_timeout_s"] + 1.5


def test_a_body_at_one_byte_a_second_is_cut_off(strict: FastServer) -> None:
    with connect(strict) as conn:
        conn.sendall(multipart_head(strict, 100_000) + part_start())
        started = time.monotonic()
        conn.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < 5 and b"upload_too_slow" not in answer:
            try:
                conn.send(b"x")
                answer += conn.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    assert answer.startswith(b"HTTP/1.1 408") and b"upload_too_slow" in answer, answer[:300]
    assert time.monotonic() - started < LIMITS["upload_grace_s"] + 2


def test_an_abandoned_half_upload_is_cut_off_and_its_file_removed(strict: FastServer) -> None:
    before = spooled_files()
    with connect(strict) as conn:
        # 2 MB of a 4 MB body, past the 1 MB the parser keeps in memory: the rest never comes.
        conn.sendall(multipart_head(strict, 4 * 1024 * 1024) + part_start() + b"\0" * (2 * 1024 * 1024))
        seconds, answer = closed_after(conn, within=10)
    assert b"408" in answer.split(b"\r\n")[0] and b"upload_stalled" in answer, answer[:300]
    assert seconds < LIMITS["body_idle_timeout_s"] + 2
    wait_for(
        lambda: spooled_files() <= before, 5, interval=0.05, message="the spooled part of the upload is still on disk"
    )


def test_an_idle_keep_alive_connection_is_closed(strict: FastServer) -> None:
    host = strict.url.removeprefix("http://")
    with connect(strict) as conn:
        conn.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        seconds, answer = closed_after(conn, within=5)
    assert answer.startswith(b"HTTP/1.1 200")
    assert seconds < LIMITS["keep_alive_s"] + 1.5


@pytest.fixture()
def one_upload(fast_server_with: Callable[..., FastServer]) -> Iterator[FastServer]:
    yield fast_server_with(max_uploads=1, body_idle_timeout_s=5.0, min_upload_kbps=0.0)


def test_uploads_past_the_cap_get_503(one_upload: FastServer) -> None:
    with connect(one_upload) as slow, connect(one_upload) as second:
        slow.sendall(multipart_head(one_upload, 10_000) + part_start())  # and then waits
        wait_for(lambda: one_upload_active(one_upload) >= 1, 5)
        body = part_start() + b"\0" * 100 + b"\r\n--b--\r\n"
        second.sendall(multipart_head(one_upload, len(body)) + body)
        answer = b""
        while b"too_many_uploads" not in answer and (chunk := second.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 503"), answer[:300]
    assert b"too_many_uploads" in answer and b"retry-after" in answer.lower()


def one_upload_active(server: FastServer) -> int:
    app = server.server.config.app
    return int(app.state.core.uploads.active)
