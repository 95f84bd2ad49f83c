"""Runtime model management over HTTP (off by default): pull in the background with progress, then
serve the listing, then remove. A real server process with no models loaded, against the hub stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import ROOT, write_registry
from fakes import LOOPBACK_TLS
from hub import MODEL_BIN_BYTES, FakeHub, hub_only

from server.testing import free_port, wait_for

KEY = {"Authorization": "Bearer manage-1"}


def serve(tmp_path: Path, hub: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIO_", "HF_"))}
    port = free_port()
    settings = {
        "AUDIO_MODELS": str(write_registry(tmp_path, hub_only)),
        "AUDIO_CACHE_DIR": str(tmp_path / "cache"),
        "AUDIO_NO_PRELOAD": "1",
        "AUDIO_API_KEYS": "manage-1",
        "HF_ENDPOINT": hub,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        **env,
    }
    command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env={**base, **settings})
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, "the server did not start"
        try:
            httpx.get(url + "/health", timeout=1, verify=LOOPBACK_TLS)
            return True
        except httpx.TransportError:
            return False

    wait_for(answering, 30, interval=0.05, message="the server did not start")
    return process, url


def test_pull_watch_and_remove_over_http(hub: FakeHub, tmp_path: Path) -> None:
    hub.stall_once.add("model.bin")
    process, url = serve(tmp_path, hub.url, AUDIO_ALLOW_DOWNLOAD="1")
    try:
        with httpx.Client(verify=LOOPBACK_TLS, base_url=url, headers=KEY, timeout=30) as c:
            assert c.get("/v1/models/whisper-small").json()["data"]["state"] == "not downloaded"
            started = c.post("/v1/models/small")
            assert started.status_code == 202, started.text
            assert started.json()["data"]["pull"]["state"] == "pulling"
            # Half of model.bin has arrived and the hub holds the rest: the progress says so.
            deadline = time.monotonic() + 30  # for both halves of the pull
            wait_for(
                lambda: c.get("/v1/models/small").json()["data"]["pull"]["bytes"] >= MODEL_BIN_BYTES // 2,
                30,
                interval=0.05,
                message=lambda: c.get("/v1/models/small").text,
            )
            pull = c.get("/v1/models/whisper-small").json()["data"]["pull"]
            assert pull["file"] == "model.bin" and pull["total_bytes"] == MODEL_BIN_BYTES
            hub.release.set()
            wait_for(
                lambda: c.get("/v1/models/small").json()["data"]["pull"]["state"] != "pulling",
                deadline - time.monotonic(),
                interval=0.05,
            )
            done = c.get("/v1/models/small").json()["data"]
            assert done["pull"]["state"] == "installed" and done["state"] == "installed", done
            # Installed now, without a restart: the registry took in the pull's fragment.
            assert (tmp_path / "cache" / "models.d" / "systran_faster-whisper-small.toml").exists()
            removed = c.delete("/v1/models/whisper-small")
            assert removed.status_code == 200, removed.text
            assert c.get("/v1/models/whisper-small").json()["data"]["state"] == "not downloaded"
            assert c.delete("/v1/models/whisper-small").json()["error"]["code"] == "not_removable"
            assert c.post("/v1/models/whisper-gigantic").status_code == 400
            assert c.post("/v1/models/small", headers={"Authorization": "Bearer wrong"}).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_management_is_off_by_default(hub: FakeHub, tmp_path: Path) -> None:
    process, url = serve(tmp_path, hub.url)
    try:
        with httpx.Client(verify=LOOPBACK_TLS, base_url=url, headers=KEY, timeout=30) as c:
            for response in (c.post("/v1/models/small"), c.delete("/v1/models/whisper-small")):
                assert response.status_code == 403
                assert response.json()["error"]["code"] == "management_disabled"
        assert not any(path.startswith("/api/") for _, path, _ in hub.requests)
    finally:
        process.terminate()
        process.wait(timeout=30)
