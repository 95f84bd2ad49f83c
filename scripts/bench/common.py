"""What the benchmarks share: the server process, the clips, HTTP requests and their checks, memory readings."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from server.testing import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
AUDIO_DIR = ROOT / "tests" / "data"
SERVER_PYTHON = ROOT / ".venv" / "bin" / "python"
TRANSCRIBE_PATH = "/v1/inference/audio/transcribe"
SYNTHESIZE_PATH = "/v1/inference/audio/synthesize"
WHISPER = "whisper-1"
PARAGRAPH = (
    "The library opens at nine in the morning and closes at six in the evening. "
    "Visitors may borrow up to five books at a time, and each loan lasts three weeks. "
    "If you need a book for longer, you can renew it online or at the front desk. "
    "Please return damaged books to a librarian rather than leaving them in the drop box. "
    "The reading room on the second floor is kept for quiet study, so phones must be switched to silent. "
    "Story time for children takes place every Saturday at ten, and parents are welcome to stay. "
    "We hope you enjoy your visit and find something wonderful to read. Thank you."
)
HTTP_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 180.0

STARTED = time.perf_counter()


class BenchError(RuntimeError):
    """The server answered something other than a success."""


@dataclass(frozen=True)
class Clip:
    name: str
    data: bytes
    seconds: float


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def http_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S)


def expect_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        path = response.request.url.path
        raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:300]}")


def transcribe_http(client: httpx.Client, clip: Clip, model: str = WHISPER) -> float:
    started = time.perf_counter()
    response = client.post(TRANSCRIBE_PATH, data={"model": model}, files={"file": (clip.name, clip.data)})
    expect_ok(response)
    return time.perf_counter() - started


@contextmanager
def running_server(workdir: Path) -> Iterator[RunningServer]:
    """The server on a free port until the block ends; if the block fails, the tail of its log is printed."""
    try:
        server = start_server(workdir, python=SERVER_PYTHON, ready_timeout=READY_TIMEOUT_S)
    except RuntimeError as exc:  # it exited or was not ready in time; the message carries its log
        raise BenchError(str(exc)) from exc
    with server:
        try:
            yield server
        except BaseException:
            tail = "\n".join(server.log_text().splitlines()[-40:])
            print(f"--- server log tail ({server.log}) ---\n{tail}\n---", file=sys.stderr)
            raise


def read_memory(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    fields = dict(line.partition(":")[::2] for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
