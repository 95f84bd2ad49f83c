"""The air-gap round trip on the real models: bundle what this machine serves, import it on a "second
machine" (an empty cache, no model packages it can use, no network), and serve from the import alone."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from audio_tools import read_audio
from conftest import CLIPS, RunningServer, clip_path, run_cli, start_server, write_registry
from wer import wer

pytestmark = pytest.mark.models

CLOSED_HUB = "http://127.0.0.1:9"


def models(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("models", *args, **env)


def without_packages(document: dict[str, Any]) -> None:
    """The second machine's registry: its packaged entries name a package it does not have."""
    for body in [*document["models"].values(), *document["voices"].values()]:
        files = body.get("source", {}).get("files", {})
        for name, pieces in files.items():
            pieces = [pieces] if isinstance(pieces, str) else pieces
            files[name] = ["not_installed_here" + piece[piece.index(":") :] for piece in pieces]


@pytest.fixture(scope="module")
def second_machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("air-gapped")
    bundle = folder / "site.tar"
    started = time.monotonic()
    made = models("bundle", str(bundle))  # everything this machine has installed
    bundle_s = time.monotonic() - started
    assert made.returncode == 0, made.stderr
    env = {
        "AUDIO_MODELS": str(write_registry(folder, without_packages)),
        "AUDIO_CACHE_DIR": str(folder / "cache"),
        "HF_ENDPOINT": CLOSED_HUB,
    }
    before = models("list", **env).stdout
    assert "openai/whisper-1" in before and "installed" not in before.split("openai/whisper-1")[1].split("\n")[0]
    started = time.monotonic()
    imported = models("import", str(bundle), **env)
    import_s = time.monotonic() - started
    assert imported.returncode == 0, imported.stderr
    print(f"\nbundle: {bundle.stat().st_size / 1e6:.0f} MB in {bundle_s:.1f} s; import in {import_s:.1f} s")
    print(made.stdout, imported.stdout, models("list", **env).stdout, sep="\n")
    yield bundle, env


def test_the_import_is_listed_as_installed(second_machine: tuple[Path, dict[str, str]]) -> None:
    _, env = second_machine
    rows = {line.split()[0]: line for line in models("list", **env).stdout.splitlines()[1:] if line.strip()}
    for name in ("openai/whisper-1", "local/whisper-tiny.en", "en_US-joe-medium", "openai/tts-1"):
        assert " installed " in rows[name], rows[name]
    assert " local " in rows["openai/whisper-1"]  # served from the imported files, not a package


def test_the_second_machine_transcribes_and_speaks(second_machine: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _, env = second_machine
    server: RunningServer = start_server(tmp_path, env={**os.environ, **env})
    try:
        with httpx.Client(base_url=server.url, timeout=180) as c:
            with open(clip_path("jfk_ask_not.flac"), "rb") as f:
                response = c.post(
                    "/v1/inference/audio/transcribe", data={"model": "whisper-1"}, files={"file": ("jfk.flac", f)}
                )
            assert response.status_code == 200, response.text
            assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], response.json()["data"]["text"]) <= 0.2
            body = {"model": "tts-1", "input": "Carried in on a bundle.", "voice": "nova", "response_format": "wav"}
            speech = c.post("/v1/inference/audio/synthesize", json=body)
            assert speech.status_code == 200, speech.text
            assert read_audio(speech.content).duration > 0.5
    finally:
        server.stop()
