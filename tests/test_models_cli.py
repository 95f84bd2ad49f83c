"""`python -m server models`: pull through a hub stand-in on loopback, list, remove, map, and carry models
to a machine with no network as a bundle. Nothing here reaches the internet."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, write_registry
from hub import MODEL_BIN_BYTES, FakeHub, hub_only, random_whisper, start, whisper_repo

from server.__main__ import main
from server.testing import wait_for

CLOSED_HUB = "http://127.0.0.1:9"  # the discard port: nothing listens, as on a machine with no network


def cli_env(cache: Path, hub: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIO_", "HF_"))}
    cache.parent.mkdir(parents=True, exist_ok=True)
    registry = write_registry(cache.parent, hub_only) if not (cache.parent / "models.toml").exists() else None
    return {
        **base,
        "AUDIO_MODELS": str(registry or cache.parent / "models.toml"),
        "AUDIO_CACHE_DIR": str(cache),
        "HF_ENDPOINT": hub,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


def models(*args: str, cache: Path, hub: str = CLOSED_HUB) -> subprocess.CompletedProcess[str]:
    """`python -m server models ARGS`: in a process of its own when it pulls (the hub library reads
    HF_ENDPOINT once, when it is imported), else in this one, which is quicker."""
    env = cli_env(cache, hub)
    if args[0] == "pull":
        command = [sys.executable, "-m", "server", "models", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["models", *args], env=env)
        except SystemExit as exit:  # argparse's answer to a misused command
            code = int(exit.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def pull_process(name: str, cache: Path, hub: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "server", "models", "pull", name]
    return subprocess.Popen(
        command, cwd=ROOT, env=cli_env(cache, hub), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_pull_through_a_mirror_resumes_an_interrupted_download(hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    hub.stall_once.add("model.bin")
    interrupted = pull_process("small", cache, hub.url)
    # Stop the pull once half of model.bin is on disk, as a lost machine or a Ctrl-C would.
    partial = cache / "models" / ".pull-systran_faster-whisper-small" / "model.bin.part"
    half = MODEL_BIN_BYTES // 2

    def half_way() -> bool:
        if partial.exists() and partial.stat().st_size >= half:
            return True
        assert interrupted.poll() is None, "the pull never got half-way"
        return False

    wait_for(half_way, 60, interval=0.05, message="the pull never got half-way")
    interrupted.kill()
    interrupted.wait()
    hub.release.set()
    hub.requests.clear()
    result = models("pull", "small", cache=cache, hub=hub.url)
    assert result.returncode == 0, result.stderr
    # The second pull went on from where the first stopped, not from the start.
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith("/model.bin")]
    assert ranges == [f"bytes={half}-"], hub.requests
    fragment = tomllib.loads((cache / "models.d" / "systran_faster-whisper-small.toml").read_text())
    entry = fragment["models"]["systran/faster-whisper-small"]
    # The entry models.toml already had keeps its aliases; its source is now the pulled files, each pinned.
    assert entry["aliases"] == ["whisper-small"]
    files = entry["source"]["sha256"]
    assert set(files) == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert (cache / "models" / "systran_faster-whisper-small" / "model.bin").read_bytes() == hub.repos[
        "Systran/faster-whisper-small"
    ]["model.bin"]
    listed = models("list", cache=cache)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("systran/faster-whisper-small "))
    assert " installed " in row and " 6 MB " in row and "local" in row
    assert models("remove", "whisper-small", cache=cache).returncode == 0
    assert not (cache / "models" / "systran_faster-whisper-small").exists()
    assert not (cache / "models.d" / "systran_faster-whisper-small.toml").exists()


def test_a_file_that_does_not_match_its_hash_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    hub.corrupt.add("model.bin")
    cache = tmp_path / "cache"
    result = models("pull", "Systran/faster-whisper-small", cache=cache, hub=hub.url)
    assert result.returncode == 1
    assert "model.bin" in result.stderr and "does not match the hub's hash" in result.stderr
    assert not (cache / "models.d").exists() or not list((cache / "models.d").glob("*.toml"))


def test_a_new_model_gets_a_new_entry_with_free_aliases(hub: FakeHub, tmp_path: Path) -> None:
    hub.repos["Systran/faster-whisper-large-v3"] = hub.repos["Systran/faster-whisper-small"]
    cache = tmp_path / "cache"
    assert models("pull", "large-v3", cache=cache, hub=hub.url).returncode == 0, hub.requests
    fragment = tomllib.loads((cache / "models.d" / "systran_faster-whisper-large-v3.toml").read_text())
    entry = fragment["models"]["systran/faster-whisper-large-v3"]
    assert entry["task"] == "transcription"
    assert entry["aliases"] == ["Systran/faster-whisper-large-v3", "whisper-large-v3", "large-v3"]


def test_no_network_and_unknown_names_say_so(tmp_path: Path) -> None:
    offline = models("pull", "en_US-amy-medium", cache=tmp_path / "cache")
    assert offline.returncode == 1
    assert "network is unreachable" in offline.stderr and "models import" in offline.stderr
    unknown = models("pull", "whisper-gigantic", cache=tmp_path / "cache")
    assert unknown.returncode == 1 and "not a name this server knows" in unknown.stderr
    assert models("remove", "whisper-1", cache=tmp_path / "cache").returncode == 1
    assert models("nonsense", cache=tmp_path / "cache").returncode == 2


@pytest.fixture(scope="module")
def bundled_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """whisper-small pulled from the stand-in hub and bundled, once for the module."""
    folder = tmp_path_factory.mktemp("bundled")
    fake = FakeHub(repos={"Systran/faster-whisper-small": whisper_repo(random_whisper(folder / "small"))})
    server = start(fake)
    try:
        assert models("pull", "small", cache=folder / "cache", hub=fake.url).returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    out = folder / "small.tar"
    result = models("bundle", str(out), "whisper-small", cache=folder / "cache")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture()
def small_bundle(bundled_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "small.tar"
    shutil.copyfile(bundled_once, copy)
    return copy


def test_a_bundle_imports_into_an_empty_cache_with_no_network(small_bundle: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "cache"
    result = models("import", str(small_bundle), cache=other)
    assert result.returncode == 0, result.stderr
    assert (other / "models" / "systran_faster-whisper-small" / "model.bin").stat().st_size == MODEL_BIN_BYTES
    row = next(line for line in models("list", cache=other).stdout.splitlines() if line.startswith("systran/"))
    assert " installed " in row


def _flip_byte_inside(bundle: Path, member: str) -> None:
    import tarfile

    with tarfile.open(bundle) as tar:
        offset = tar.getmember(member).offset_data + 1000
    with open(bundle, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_a_bundle_with_one_flipped_byte_is_refused(small_bundle: Path, tmp_path: Path) -> None:
    _flip_byte_inside(small_bundle, "files/systran_faster-whisper-small/model.bin")
    other = tmp_path / "elsewhere" / "cache"
    result = models("import", str(small_bundle), cache=other)
    assert result.returncode == 1
    assert "files/systran_faster-whisper-small/model.bin: does not match the manifest" in result.stderr
    assert not list((other / "models.d").glob("*.toml")) if (other / "models.d").exists() else True
    assert not (other / "models" / "systran_faster-whisper-small").exists()


def test_a_truncated_bundle_is_refused(small_bundle: Path, tmp_path: Path) -> None:
    data = small_bundle.read_bytes()
    small_bundle.write_bytes(data[: len(data) // 2])
    result = models("import", str(small_bundle), cache=tmp_path / "elsewhere" / "cache")
    assert result.returncode == 1 and "truncated" in result.stderr, result.stderr
    not_a_bundle = tmp_path / "notes.tar"
    not_a_bundle.write_bytes(b"hello" * 100)
    assert models("import", str(not_a_bundle), cache=tmp_path / "elsewhere" / "cache").returncode == 1
