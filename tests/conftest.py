"""Shared fixtures: servers on loopback (real models, or fake engines for the fast layer), the test clips,
and registries written from the shipped one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# As the server does (engines/__init__.py): one BLAS thread per worker, set before numpy first loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import httpx
import pytest
import tomli_w
from fakes import LOOPBACK_TLS, FakeEngines, FastServer, start_fast_server
from hub import FakeHub, random_whisper, whisper_repo
from hub import start as start_hub

from server.config import Settings
from server.testing import RunningServer as RunningServer  # this and start_server: tests import them from here
from server.testing import start_server as start_server

ROOT = Path(__file__).resolve().parent.parent
AUDIO_DIR = ROOT / "tests" / "data"
CLIPS = {c["file"]: c for c in map(json.loads, (AUDIO_DIR / "manifest.jsonl").read_text().splitlines())}
SPEECH_CLIPS = [name for name, clip in CLIPS.items() if clip["category"] == "speech"]
# Every voice name the hosted API knows; each must map to a Piper voice.
OPENAI_VOICES = [
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
]
NO_SPEECH_CLIPS = [name for name, clip in CLIPS.items() if clip["category"] == "no_speech"]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The server as the README starts it: embedded defaults, preloaded, no keys."""
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def base_url(server: RunningServer) -> str:
    return server.url


@pytest.fixture()
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=base_url, timeout=180) as c:
        yield c


def clip_path(name: str) -> Path:
    return AUDIO_DIR / name


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    events = []
    for block in response.text.split("\n\n"):
        data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m server ARGS` in a process of its own, with only the AUDIO_* settings given here."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_") and k != "HF_HUB_OFFLINE"}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def write_registry(folder: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The shipped models.toml, changed as a parsed document (never as text) and written to `folder`."""
    document = tomllib.loads((ROOT / "models.toml").read_text(encoding="utf-8"))
    change(document)
    path = folder / "models.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the fast layer: fake engines


def fast_settings(tmp: Path, **changes: Any) -> Settings:
    return Settings(cache_dir=tmp / "cache", **changes)


@pytest.fixture(scope="session")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastServer]:
    """The app with default settings on fake engines; tests that close its gate open it again."""
    running = start_fast_server(fast_settings(tmp_path_factory.mktemp("fast")))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def _fast_session(fast: FastServer) -> Iterator[httpx.Client]:
    # One client for the whole layer: a new httpx.Client costs ~15 ms of TLS setup, even for http.
    with httpx.Client(verify=LOOPBACK_TLS, base_url=fast.url, timeout=30) as c:
        yield c


@pytest.fixture()
def fast_client(fast: FastServer, _fast_session: httpx.Client) -> Iterator[httpx.Client]:
    fast.engines.gate.open()
    yield _fast_session
    fast.engines.gate.open()


@pytest.fixture(scope="session")
def _stopping() -> Iterator[list[FastServer]]:
    """Fast servers told to stop after their test; they wind down while later tests run."""
    stopping: list[FastServer] = []
    yield stopping
    for running in stopping:
        running.join()


@pytest.fixture()
def fast_server_with(tmp_path: Path, _stopping: list[FastServer]) -> Iterator[Callable[..., FastServer]]:
    """Start a fast server with changed settings (and engines); stopped after the test."""
    started: list[FastServer] = []

    def start(engines: FakeEngines | None = None, **changes: Any) -> FastServer:
        started.append(start_fast_server(fast_settings(tmp_path, **changes), engines))
        return started[-1]

    yield start
    for running in started:
        running.stop(wait=False)
    _stopping.extend(started)


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    """The hub stand-in on loopback, holding a Whisper-shaped `Systran/faster-whisper-small`."""
    fake = FakeHub(repos={"Systran/faster-whisper-small": whisper_repo(random_whisper(tmp_path / "small"))})
    server = start_hub(fake)
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made as the README shows."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
