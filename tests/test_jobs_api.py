"""Transcription jobs on fake engines: the routes, their errors, ownership, cancelling, retention, and
jobs waiting behind interactive requests. (The real models, crashes and PostgreSQL: test_jobs.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from conftest import clip_path, metric, write_registry
from fakes import LOOPBACK_TLS, FastServer

from server.testing import wait_for

JOBS = "/v1/inference/audio/jobs"
JFK = "jfk_ask_not.flac"
CARDS = "pocketsphinx_cards_002.wav"


def client(server: FastServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(verify=LOOPBACK_TLS, base_url=server.url, timeout=30, headers=headers)


def submit(c: httpx.Client, clip: str = JFK, **data: str) -> dict[str, Any]:
    response = c.post(JOBS, data={"model": "whisper-1", **data}, files={"file": (clip, clip_path(clip).read_bytes())})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["data"]
    assert response.headers["location"] == f"{JOBS}/{job['id']}"
    return job


def finished(c: httpx.Client, job_id: str, timeout: float = 20) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        job: dict[str, Any] = c.get(f"{JOBS}/{job_id}").json()["data"]
        return job if job["state"] in ("succeeded", "failed") else None

    found: dict[str, Any] = wait_for(state, timeout, message=f"job {job_id} to finish")
    return found


def test_a_job_runs_and_gives_its_result_in_every_format(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(jobs_window_s=5.0)
    gate = running.engines.gate
    with client(running) as c:
        gate.close()
        job = submit(c, response_format="srt")
        assert job["state"] == "queued" and job["progress"]["audio_seconds_total"] == 11.0
        assert job["created_at"] > 0 and job["started_at"] is None and job["error"] is None
        gate.wait_for_waiting(1)
        # Before it is done: 409, with the state.
        early = c.get(f"{JOBS}/{job['id']}/result")
        assert early.status_code == 409 and early.json()["error"]["code"] == "job_not_finished"
        assert "running" in early.json()["error"]["message"]
        # Progress moves window by window.
        gate.step_until(lambda: c.get(f"{JOBS}/{job['id']}").json()["data"]["progress"]["audio_seconds_done"] > 0)
        partway = c.get(f"{JOBS}/{job['id']}").json()["data"]
        assert partway["state"] == "running" and 0 < partway["progress"]["fraction"] < 1
        gate.open()
        done = finished(c, job["id"])
        assert done["state"] == "succeeded", done
        assert done["progress"] == {"audio_seconds_done": 11.0, "audio_seconds_total": 11.0, "fraction": 1.0}
        assert done["created_at"] <= done["started_at"] <= done["finished_at"]
        assert done["result_url"] == f"{JOBS}/{job['id']}/result"
        # The submission's own format is the default, and every other one can be asked for, again and again.
        srt = c.get(done["result_url"])
        assert srt.headers["content-type"].startswith("application/x-subrip") and "-->" in srt.text
        vtt = c.get(done["result_url"], params={"response_format": "vtt"})
        assert vtt.text.startswith("WEBVTT")
        text = c.get(done["result_url"], params={"response_format": "json"}).json()["data"]
        assert text["duration"] == 11.0 and text["text"].startswith("alpha bravo.")
        verbose = c.get(done["result_url"], params={"response_format": "verbose_json"}).json()["data"]
        starts = [s["start"] for s in verbose["segments"]]
        # Each window's segments are timed from the start of the recording, and numbered once.
        assert starts == sorted(starts) and starts[-1] >= 10.0
        assert [s["id"] for s in verbose["segments"]] == list(range(len(starts)))
        assert verbose["words"] and verbose["words"][-1]["end"] <= 11.0
        assert c.get(done["result_url"], params={"response_format": "json"}).json()["data"] == text
        assert c.get(done["result_url"], params={"response_format": "docx"}).status_code == 400
        assert metric(c, "audio_jobs_finished_total", state="succeeded") == 1
        assert metric(c, "audio_jobs_audio_seconds_total") == 11.0


def test_bad_submissions_get_the_errors_of_the_sync_route(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(max_job_upload_bytes=64 * 1024)
    with client(running) as c:

        def post(files: dict[str, Any] | None, **data: str) -> tuple[int, str]:
            response = c.post(JOBS, data={"model": "whisper-1", **data}, files=files)
            return response.status_code, response.json()["error"]["code"]

        audio = {"file": ("cards.wav", clip_path(CARDS).read_bytes())}
        assert post(None) == (400, "invalid_content_type")
        assert post({"other": ("x", b"1")}) == (400, "missing_field")
        assert post({"file": ("x.wav", b"not audio, " * 200)}) == (415, "unsupported_audio")
        assert post({"file": ("x.wav", b"")}) == (400, "empty_file")
        assert post(audio, model="no-such-model") == (404, "model_not_found")
        assert post(audio, stream="true") == (400, "invalid_value")
        assert post(audio, response_format="docx") == (400, "invalid_value")
        assert post({"file": ("jfk.flac", clip_path(JFK).read_bytes())}) == (413, "file_too_large")
        assert c.get(f"{JOBS}/job_nope").status_code == 404
        assert c.get(f"{JOBS}/job_nope/result").json()["error"]["code"] == "job_not_found"
        assert c.delete(f"{JOBS}/job_nope").status_code == 404
        assert c.get(JOBS, params={"limit": "0"}).status_code == 400
        # Nothing refused was kept.
        assert c.get(JOBS).json()["data"]["jobs"] == []


def test_jobs_are_listed_newest_first_a_page_at_a_time(fast: FastServer) -> None:
    with client(fast) as c:
        made = [submit(c, CARDS)["id"] for _ in range(3)]
        first = c.get(JOBS, params={"limit": 2}).json()["data"]
        ids = [j["id"] for j in first["jobs"]]
        assert first["has_more"] and first["next_after"] == ids[-1]
        rest = c.get(JOBS, params={"limit": 2, "after": first["next_after"]}).json()["data"]
        listed = ids + [j["id"] for j in rest["jobs"]]
        assert listed[:3] == made[::-1]
        for job_id in made:
            finished(c, job_id)
            assert c.delete(f"{JOBS}/{job_id}").json()["data"]["deleted"] is True


def test_a_job_belongs_to_the_key_that_made_it(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(api_keys=frozenset({"key-one", "key-two"}))
    with client(running, "key-one") as one, client(running, "key-two") as two, client(running) as nobody:
        job = submit(one, CARDS)
        assert nobody.get(f"{JOBS}/{job['id']}").status_code == 401
        for response in (
            two.get(f"{JOBS}/{job['id']}"),
            two.get(f"{JOBS}/{job['id']}/result"),
            two.delete(f"{JOBS}/{job['id']}"),
        ):
            assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"
        assert two.get(JOBS).json()["data"]["jobs"] == []
        assert [j["id"] for j in one.get(JOBS).json()["data"]["jobs"]] == [job["id"]]
        assert finished(one, job["id"])["state"] == "succeeded"


def test_deleting_a_running_job_cancels_it(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(jobs_window_s=5.0)
    gate = running.engines.gate
    with client(running) as c:
        gate.close()
        job = submit(c)
        gate.wait_for_waiting(1)
        gone = c.delete(f"{JOBS}/{job['id']}")
        assert gone.status_code == 200 and gone.json()["data"]["state"] == "cancelled"
        assert c.get(f"{JOBS}/{job['id']}").status_code == 404
        # The window being transcribed stops at its next step, and nothing more runs.
        gate.allow(1)
        wait_for(lambda: metric(c, "audio_jobs_running") == 0, 10)
        passed = gate.passed
        gate.open()
        time.sleep(0.3)
        assert gate.passed == passed
        assert metric(c, "audio_jobs_audio_seconds_total") == 0


def test_finished_jobs_are_deleted_after_the_retention(fast_server_with: Callable[..., FastServer]) -> None:
    running = fast_server_with(jobs_retention_h=1.0 / 3600)  # one second
    with client(running) as c:
        job = submit(c, CARDS)
        assert finished(c, job["id"])["state"] == "succeeded"
        wait_for(lambda: c.get(f"{JOBS}/{job['id']}").status_code == 404, 10, message="the job to expire")


def test_a_request_is_not_queued_behind_a_jobs_windows(
    fast_server_with: Callable[..., FastServer], tmp_path: Path
) -> None:
    # whisper-1 takes one request at a time here; two jobs run, one window at a time each.
    def one_at_a_time(document: dict[str, Any]) -> None:
        document["models"]["openai/whisper-1"]["concurrency"] = 1

    running = fast_server_with(models_path=write_registry(tmp_path, one_at_a_time), jobs_workers=2, jobs_window_s=5.0)
    gate = running.engines.gate
    with client(running) as c, ThreadPoolExecutor(1) as pool:
        wait_for(lambda: c.get("/ready").status_code == 200, 10)  # the models are loaded
        gate.close()
        first = submit(c)["id"]
        gate.wait_for_waiting(1)  # the first job's window holds the model's slot
        second = submit(c)["id"]
        wait_for(lambda: metric(c, "audio_jobs_running") == 2, 10)  # the second job waits for it
        request = pool.submit(
            c.post,
            "/v1/inference/audio/transcribe",
            data={"model": "whisper-1"},
            files={"file": (CARDS, clip_path(CARDS).read_bytes())},
        )
        wait_for(lambda: metric(c, "audio_queue_depth", model="openai/whisper-1") == 1, 10)
        gate.step_until(request.done, limit=20)

        # The request took the slot when the first job's window ended, before the second job's
        # window (which had waited longer) could run.
        def done(job_id: str) -> float:
            return float(c.get(f"{JOBS}/{job_id}").json()["data"]["progress"]["audio_seconds_done"])

        assert done(first) > 0 and done(second) == 0
        assert request.result().status_code == 200
        gate.open()
