"""Jobs end to end on the embedded models: a server killed part-way resumes its job after the last
stored window, and two servers on one real PostgreSQL (started here, from Debian's package) share
their jobs, the survivor finishing what the killed one was running."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from audio_tools import convert
from conftest import clip_path, metric
from wer import wer

from engines.audio.decode import decode
from server.testing import RunningServer, free_port, start_server, wait_for

pytestmark = pytest.mark.models

JOBS = "/v1/inference/audio/jobs"
SPEECH = ["jfk_ask_not.flac", "librivox_sense_and_sensibility_0880.mp3", "pocketsphinx_cards_002.wav"]
WINDOW_S = 15
RECORDING_S = 105
# Short windows and leases, so that a few minutes of audio make several windows, and a dead
# worker's job is taken up within seconds. Only tiny.en is used: it loads with the first job.
JOB_ENV = {"AUDIO_JOBS_WINDOW_S": str(WINDOW_S), "AUDIO_JOBS_LEASE_S": "2", "AUDIO_NO_PRELOAD": "1"}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Close to two minutes of real speech (the clips over and over, with pauses), as an mp3."""
    rate = 16000
    pieces = []
    for name in SPEECH:
        pieces += [decode(clip_path(name)), np.zeros(rate, np.float32)]
    cycle = np.concatenate(pieces)
    audio = np.tile(cycle, int(np.ceil(RECORDING_S * rate / len(cycle))))[: RECORDING_S * rate]
    folder = tmp_path_factory.mktemp("recording")
    sf.write(folder / "meeting.wav", audio, rate)
    return convert(folder / "meeting.wav", folder / "meeting.mp3", "mp3", "mp3", 16000)


def submit(server: RunningServer, recording: Path) -> str:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        files = {"file": (recording.name, recording.read_bytes())}
        response = c.post(JOBS, data={"model": "tiny.en"}, files=files)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["data"]["id"]
    return job_id


def job(server: RunningServer, job_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        found: dict[str, Any] = c.get(f"{JOBS}/{job_id}").json()["data"]
        return found


def jobs_seconds(server: RunningServer) -> float:
    """Seconds of job audio this server transcribed itself."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return metric(c, "audio_jobs_audio_seconds_total")


def part_way(server: RunningServer, job_id: str) -> float:
    """Wait until at least one window is stored and the job is not done; its seconds done then."""

    def progress() -> float | None:
        done = float(job(server, job_id)["progress"]["audio_seconds_done"])
        return done if done >= WINDOW_S / 2 else None

    done: float = wait_for(progress, 180, interval=0.05, message="a first window to be stored")
    assert done < RECORDING_S - WINDOW_S, "the job finished before the server could be killed"
    return done


def succeeded(server: RunningServer, job_id: str) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        found = job(server, job_id)
        assert found["state"] != "failed", found
        return found if found["state"] == "succeeded" else None

    found: dict[str, Any] = wait_for(state, 240, interval=0.2, message="the job to finish")
    return found


def test_a_job_resumes_after_its_last_window_when_the_server_is_killed(tmp_path: Path, recording: Path) -> None:
    env = {**JOB_ENV, "AUDIO_JOBS_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}"}
    first = start_server(tmp_path / "first", env)
    try:
        job_id = submit(first, recording)
        done_before = part_way(first, job_id)
        first.process.kill()  # kill -9: no chance to hand the job back
        first.process.wait(10)
    finally:
        first.stop()
    with start_server(tmp_path / "second", env) as second:
        finished = succeeded(second, job_id)
        assert finished["progress"]["audio_seconds_done"] == pytest.approx(RECORDING_S, abs=0.1)
        # The second server did only what was left after the last stored window, never the whole.
        redone = jobs_seconds(second)
        assert 0 < redone <= RECORDING_S - done_before + 0.5, (redone, done_before)
        with httpx.Client(base_url=second.url, timeout=300) as c:
            result = c.get(f"{JOBS}/{job_id}/result", params={"response_format": "verbose_json"}).json()["data"]
            files = {"file": (recording.name, recording.read_bytes())}
            data = {"model": "tiny.en", "response_format": "verbose_json"}
            whole = c.post("/v1/inference/audio/transcribe", data=data, files=files).json()["data"]
    # The same as one uninterrupted request, up to the windows' edges.
    assert wer(whole["text"], result["text"]) < 0.1, (whole["text"], result["text"])
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts) and starts[-1] > RECORDING_S - 30
    assert result["words"][-1]["end"] <= RECORDING_S + 1


# ------------------------------------------------------------------ PostgreSQL


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server of this test's own, in a temporary directory, on a free port."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    # Not under pytest's own temporary folder, which only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="audio-server-postgres-"))
    data = folder / "data"
    # PostgreSQL refuses to run as root: as root, it runs as Debian's `postgres` user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    port = free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}{done.stderr}"

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )


def test_two_servers_on_one_postgres_share_jobs_and_the_survivor_finishes_them(
    tmp_path: Path, recording: Path, postgres: str
) -> None:
    env = {**JOB_ENV, "AUDIO_JOBS_DATABASE_URL": postgres}
    servers = [start_server(tmp_path / "a", env), start_server(tmp_path / "b", env)]
    try:
        job_id = submit(servers[0], recording)
        # Either replica sees it, whichever took it.
        assert job(servers[1], job_id)["id"] == job_id
        done_before = part_way(servers[0], job_id)
        running = [s for s in servers if jobs_seconds(s) > 0 or _running(s)]
        assert len(running) == 1, "exactly one replica runs the job"
        killed = running[0]
        survivor = servers[1 - servers.index(killed)]
        killed.process.kill()
        killed.process.wait(10)
        finished = succeeded(survivor, job_id)
        assert finished["progress"]["audio_seconds_done"] == pytest.approx(RECORDING_S, abs=0.1)
        redone = jobs_seconds(survivor)
        assert 0 < redone <= RECORDING_S - done_before + 0.5, (redone, done_before)
        with httpx.Client(base_url=survivor.url, timeout=60) as c:
            text = c.get(f"{JOBS}/{job_id}/result", params={"response_format": "text"}).json()["data"]["text"]
        assert "fellow americans" in text.lower()
    finally:
        for server in servers:
            server.stop()


def _running(server: RunningServer) -> bool:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return metric(c, "audio_jobs_running") > 0
