"""Start a server (a process, or an app in a thread) on a free port, and wait for conditions: for tests and benches."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import uvicorn

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port that nothing listens on at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    condition: Callable[[], T | None],
    timeout: float,
    interval: float = 0.02,
    message: str | Callable[[], str] = "",
) -> T:
    """Call `condition` every `interval` seconds until it returns something truthy, and return that.

    After `timeout` seconds it raises TimeoutError with `message` (a function is called then, so that it can
    describe the state at the end). An exception from `condition` ends the wait at once: a condition that can
    tell the wait is hopeless (the process exited) says so by raising.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise TimeoutError(text or f"the condition did not hold within {timeout:g} s")
        time.sleep(interval)


@dataclass
class RunningServer:
    """A `python -m server serve` process on loopback, its output in `log`; `with` stops it at the end."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def answers(self, path: str) -> bool:
        """Whether `path` answers 200 now; raises RuntimeError, with the log, once the process has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
        try:
            # Readiness only: a test's own certificate is checked by the test's own clients.
            return httpx.get(self.url + path, timeout=2, verify=False).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        """Terminate the process, and kill it if it has not ended after 15 s."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    workdir: Path,
    env: Mapping[str, str] | None = None,
    wait_path: str = "/ready",
    python: str | Path = sys.executable,
    args: Sequence[str] = (),
    ready_timeout: float = 180,
) -> RunningServer:
    """Start `python -m server serve ARGS` in the repository root on a free port, its output in
    `workdir/server-PORT.log`, and return once `wait_path` answers 200.

    The environment is this process's with HF_HUB_OFFLINE=1, then `env` over both. If the process exits or is
    not ready within `ready_timeout` seconds, it is stopped and RuntimeError carries its log.
    """
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"server-{port}.log"
    command = [str(python), "-m", "server", "serve", "--port", str(port), "--log-level", "warning", *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            # Jobs go to a database of the test's own, never the user's.
            env={
                **os.environ,
                "HF_HUB_OFFLINE": "1",
                "AUDIO_JOBS_DATABASE_URL": f"sqlite:///{workdir / 'jobs.sqlite3'}",
                **(env or {}),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    scheme = "https" if "--tls-cert" in args else "http"
    server = RunningServer(url=f"{scheme}://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_for(lambda: server.answers(wait_path), ready_timeout, interval=0.2)
    except TimeoutError:
        server.stop()
        raise RuntimeError(f"server not ready in time:\n{server.log_text()}") from None
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class ThreadedServer:
    """uvicorn serving an app on loopback from a thread of this process."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, wait: bool = True) -> None:
        """Tell the server to stop; with `wait`, until it has (otherwise `join` it later)."""
        self.server.should_exit = True
        if wait:
            self.join()

    def join(self) -> None:
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            raise RuntimeError(f"the server on {self.url} did not stop")


def serve_in_thread(config: uvicorn.Config) -> ThreadedServer:
    """Serve `config` (its host and port set, a port from `free_port`) from a daemon thread, and return
    once it listens; RuntimeError if it stops first (uvicorn has logged why)."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{config.host}:{config.port}"

    def started() -> bool:
        if server.started:
            return True
        if not thread.is_alive():
            raise RuntimeError(f"the server on {url} did not start")
        return False

    wait_for(started, 30, interval=0.01, message=f"the server on {url} did not start in 30 s")
    return ThreadedServer(url=url, server=server, thread=thread)
