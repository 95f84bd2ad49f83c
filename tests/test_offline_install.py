"""An air-gapped install: a wheelhouse made where the index is reachable, installed and served inside a
network namespace with no route out (`unshare -n`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT

UNSHARE = shutil.which("unshare")


def _no_network_available() -> bool:
    if UNSHARE is None or os.geteuid() != 0:
        return False
    return subprocess.run([UNSHARE, "-n", "true"], capture_output=True, check=False).returncode == 0


def _copy_checkout(target: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)


def test_a_changed_wheel_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wh"
    wheelhouse.mkdir()
    (wheelhouse / "demo-1.0-py3-none-any.whl").write_bytes(b"a wheel")
    (wheelhouse / "requirements.lock").write_text("demo==1.0\n")
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(wheelhouse.iterdir())]
    (wheelhouse / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    (wheelhouse / "demo-1.0-py3-none-any.whl").write_bytes(b"a changed wheel")
    checkout = tmp_path / "repo"
    _copy_checkout(checkout)
    result = subprocess.run(
        ["scripts/install", "--offline", str(wheelhouse)], cwd=checkout, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and "does not match its SHA256SUMS" in result.stderr, result.stderr
    assert not (checkout / ".venv").exists()


@pytest.mark.slow
@pytest.mark.models
@pytest.mark.skipif(not _no_network_available(), reason="needs root and unshare -n for a namespace with no network")
def test_a_wheelhouse_installs_and_serves_with_no_network(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    started = time.monotonic()
    made = subprocess.run(
        ["scripts/wheelhouse", str(wheelhouse)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert made.returncode == 0, made.stderr
    built_s = time.monotonic() - started
    checkout = tmp_path / "repo"
    _copy_checkout(checkout)
    script = f"""
        set -e
        ip link set lo up
        start=$SECONDS
        scripts/install --offline {wheelhouse} > install.log 2>&1
        echo "installed in $((SECONDS - start)) s"
        .venv/bin/python -m server serve --port 8765 --log-level warning > serve.log 2>&1 &
        probe="import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/ready')"
        for _ in $(seq 600); do
            if .venv/bin/python -c "$probe" 2>/dev/null; then echo ready; kill %1; exit 0; fi
            sleep 0.2
        done
        cat serve.log; exit 1
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIO_", "PIP_", "VIRTUAL_ENV"))}
    env["AUDIO_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run(
        [str(UNSHARE), "-n", "bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True, timeout=900
    )
    log = (checkout / "install.log").read_text() if (checkout / "install.log").exists() else ""
    assert result.returncode == 0, (result.stdout, result.stderr, log[-3000:])
    assert "ready" in result.stdout
    size = sum(p.stat().st_size for p in wheelhouse.iterdir())
    print(f"\nwheelhouse: {size / 1e6:.0f} MB in {built_s:.0f} s; {result.stdout.strip().splitlines()[0]}")
