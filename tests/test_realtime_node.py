"""Live transcription from Node: the official `openai` package's GA realtime client (`OpenAIRealtimeWS` with
`{intent: 'transcription'}`, from 'openai/realtime/ws' on the `ws` package) streams real speech over wss://
to a real server serving TLS with a certificate made here, trusted through NODE_EXTRA_CA_CERTS.

openai-node builds its realtime URL from the client's base URL and always dials wss://, so this is the path
Node users take. tests/node holds the pinned packages (package.json, package-lock.json) and the client
(realtime.mjs); `npm ci` installs them into tests/node/node_modules when that is missing or stale."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr
from conftest import clip_path

from engines.audio.decode import decode
from server.testing import RunningServer, start_server

pytestmark = pytest.mark.models

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "realtime.mjs"
STAMP = NODE_DIR / "node_modules" / ".installed-from"
"""The hash of package.json and package-lock.json that node_modules was installed from."""
RATE = 16000
CLIPS = ["jfk_ask_not.flac", "pocketsphinx_cards_002.wav"]
MODEL = "tiny.en"
NETWORK_ERRORS = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "ENETUNREACH",
    "EHOSTUNREACH",
    "ENOTCACHED",
    "network",
)
"""What npm says when it cannot reach the registry (ENOTCACHED: offline, and not in npm's cache)."""

COMMITTED = "input_audio_buffer.committed"
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def _lock_hash() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((NODE_DIR / name).read_bytes())
    return digest.hexdigest()


def _node_major() -> int:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    return int(version.strip().lstrip("v").split(".")[0])


@pytest.fixture(scope="module")
def node_packages() -> None:
    """tests/node/node_modules as package-lock.json pins it; skips where Node, npm or the registry is missing."""
    missing = [tool for tool in ("node", "npm", "openssl") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: the Node client's test needs Node.js, npm and openssl")
    if _node_major() < 20:
        pytest.skip("Node.js 20 or newer is needed for the openai package's realtime client")
    wanted = _lock_hash()
    if STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return
    # --prefer-offline: npm's cache first, the registry only for what it lacks; --engine-strict=false: openai 7
    # says Node >= 22, and its realtime client runs on the Node 20 this project's machines have.
    command = ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", "--engine-strict=false"]
    try:
        done = subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("npm ci did not finish in 180 s: is the npm registry reachable?")
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(code in output for code in NETWORK_ERRORS):
            pytest.skip(f"npm ci could not reach the npm registry (and npm's cache lacks the packages):\n{output}")
        pytest.fail(f"npm ci failed with {done.returncode}:\n{output}")
    STAMP.write_text(wanted + "\n")


@pytest.fixture(scope="module")
def tls_server(
    node_packages: None, tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
) -> Iterator[RunningServer]:
    cert, key = certificate
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with start_server(tmp_path_factory.mktemp("server"), env={"AUDIO_NO_PRELOAD": "1"}, args=args) as running:
        yield running


def _speech(path: Path) -> None:
    """Both clips, a second of silence after each (a turn's end), as 24 kHz 16-bit little-endian PCM."""
    pieces = [np.concatenate([decode(clip_path(c)), np.zeros(RATE, np.float32)]) for c in CLIPS]
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), *pieces])
    path.write_bytes((np.clip(soxr.resample(audio, RATE, 24000), -1, 1) * 32767).astype("<i2").tobytes())


def test_openai_node_transcribes_turns_live_over_wss(
    tls_server: RunningServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = certificate
    assert tls_server.url.startswith("https://")
    pcm = tmp_path / "speech.pcm"
    _speech(pcm)
    # Only the test's certificate is added to Node's trust: verification stays on.
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(cert)}
    env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)
    command = ["node", str(SCRIPT), tls_server.url + "/oai/v1", MODEL, str(pcm), str(len(CLIPS))]
    done = subprocess.run(command, cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=90)
    said = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}\nserver:\n{tls_server.log_text()}"
    assert done.returncode == 0, said
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])

    transcripts: list[dict[str, str]] = result["transcripts"]
    deltas: dict[str, str] = result["deltas"]
    events: list[tuple[str, str | None]] = [(kind, item) for kind, item in result["events"]]
    assert len(transcripts) == len(CLIPS), said
    assert [kind for kind, _ in events[:2]] == ["session.created", "session.updated"], said
    assert "fellow americans" in transcripts[0]["transcript"].lower(), said
    assert all(t["transcript"].strip() for t in transcripts), said
    for turn in transcripts:
        item, text = turn["item_id"], turn["transcript"]
        # Deltas only ever append to what the final reading says; every word of it came as a delta.
        assert item in deltas, said
        assert text.startswith(deltas[item].strip()), (deltas[item], text)
        # The item's turn was committed before its transcript completed, and its deltas came before that too.
        kinds = [kind for kind, of in events if of == item]
        assert COMMITTED in kinds and COMPLETED in kinds, kinds
        assert kinds.index(COMMITTED) < kinds.index(COMPLETED), kinds
        assert all(i < kinds.index(COMPLETED) for i, kind in enumerate(kinds) if kind == DELTA), kinds
    # Turns complete in the order they were spoken.
    committed = [item for kind, item in events if kind == COMMITTED]
    assert [t["item_id"] for t in transcripts] == committed[: len(transcripts)], said
