"""Transcription jobs over HTTP: a long job's memory and progress, a job's throughput against a sync request's,
and how long a short sync request waits while a job runs. Prints the numbers, then one JSON line.

The recordings are the real English clips in tests/data in a shuffled order with short gaps, repeated to
length and encoded as MP3 (or Opus) as they are made, so that hours of samples are never held here.

    .venv/bin/python scripts/bench/jobs.py [--model tiny.en] [--hours 3] [--sync-minutes 10] [--skip-long]

Phases, on one server: short sync requests on the idle server, one every ~2 s; the long job, its memory
sampled every 0.5 s and its progress followed, while the same short requests are sent again; then a
--sync-minutes recording sent as sync requests and as a job on the idle server. Other work on the machine
slows the server down: each phase prints how many cores other processes used meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import (
    AUDIO_DIR,
    READY_TIMEOUT_S,
    SERVER_PYTHON,
    TRANSCRIBE_PATH,
    BenchError,
    Clip,
    expect_ok,
    log,
    read_memory,
)

from engines.audio.decode import WHISPER_RATE, decode
from engines.audio.encode import Bitrates, Encoder
from server.testing import RunningServer, start_server

JOBS_PATH = "/v1/inference/audio/jobs"
SPEECH = (
    "jfk_ask_not.flac",
    "librivox_sense_and_sensibility_0880.mp3",
    "librivox_sense_and_sensibility_0930.webm",
    "pocketsphinx_cards_002.wav",
)
SHORT = "jfk_ask_not.flac"
GAP_S = (0.3, 1.5)
"""Silence between two clips, drawn uniformly."""
BLOCK_S = 30.0
"""Audio made and encoded at a time."""
SAMPLE_S = 0.5
"""How often the server's memory and the job's state are read while a job runs."""
SETTLE_S = 1.0
CLIENT_TIMEOUT_S = 4 * 3600.0
"""Sync requests for long audio may take a while; the client waits for them."""
FINISHED = ("succeeded", "failed")


@dataclass(frozen=True)
class Sample:
    wall_s: float
    """Seconds since the job's submission began."""
    rss_mib: float
    hwm_mib: float
    state: str
    done_s: float
    fraction: float | None


@dataclass
class JobRun:
    id: str
    audio_s: float
    upload_s: float
    queued_s: float
    """From the submission's start until the job was claimed."""
    running_s: float
    """started_at to finished_at."""
    wall_s: float
    """From the submission's start until finished_at."""
    samples: list[Sample] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.audio_s / self.wall_s


# ---------------------------------------------------------------- recordings


def speech_clips() -> list[np.ndarray]:
    return [decode(AUDIO_DIR / name) for name in SPEECH]


def speech_pieces(clips: list[np.ndarray], seconds: float, seed: int) -> Iterator[np.ndarray]:
    """`seconds` of the clips, each round in a new order, with a gap after each clip; the same for a seed."""
    rng = random.Random(seed)
    left = int(seconds * WHISPER_RATE)
    order = list(range(len(clips)))
    while left > 0:
        rng.shuffle(order)
        for index in order:
            gap = np.zeros(int(rng.uniform(*GAP_S) * WHISPER_RATE), dtype=np.float32)
            for piece in (clips[index], gap):
                piece = piece[:left]
                left -= len(piece)
                yield piece
                if left <= 0:
                    return


def recording(folder: Path, seconds: float, format_name: str, kbps: int, seed: int) -> Path:
    """An encoded recording of `seconds`, made block by block; reused when `folder` already holds it."""
    path = folder / f"speech-{seconds:g}s-seed{seed}-{kbps}kbps.{format_name}"
    if path.exists():
        log(f"reusing {path}")
        return path
    started = time.perf_counter()
    encoder = Encoder(format_name, WHISPER_RATE, Bitrates(mp3=kbps, opus=kbps))
    partial = path.with_name(path.name + ".part")
    block: list[np.ndarray] = []
    held = 0
    with partial.open("wb") as out:
        for piece in speech_pieces(speech_clips(), seconds, seed):
            block.append(piece)
            held += len(piece)
            if held >= BLOCK_S * WHISPER_RATE:
                out.write(encoder.push(np.concatenate(block)))
                block, held = [], 0
        if block:
            out.write(encoder.push(np.concatenate(block)))
        out.write(encoder.finish())
    partial.rename(path)
    elapsed = time.perf_counter() - started
    size = path.stat().st_size / 1e6
    log(f"encoded {seconds:g} s of speech as {format_name} at {kbps} kbps in {elapsed:.0f} s ({size:.1f} MB)")
    return path


# ---------------------------------------------------------------- the server


@contextmanager
def jobs_server(workdir: Path, env: dict[str, str]) -> Iterator[RunningServer]:
    """The server (jobs in `workdir`'s own SQLite file) until the block ends; a failure prints its log's tail."""
    try:
        server = start_server(workdir, env=env, python=SERVER_PYTHON, ready_timeout=READY_TIMEOUT_S)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from exc
    with server:
        try:
            yield server
        except BaseException:
            tail = "\n".join(server.log_text().splitlines()[-40:])
            print(f"--- server log tail ({server.log}) ---\n{tail}\n---", file=sys.stderr)
            raise


def settled_rss(pid: int, tolerance_mib: float = 1.0, limit_s: float = 15.0) -> float:
    """VmRSS once two readings a second apart agree (or after `limit_s`)."""
    previous = read_memory(pid)[0]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = read_memory(pid)[0]
        if abs(current - previous) <= tolerance_mib:
            return current
        previous = current
    return previous


def reset_peak(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux 4.0+); False where the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class OtherCpu:
    """CPU time that neither the server nor this script used while it was open, in cores on average: other
    work on the machine, which slows the server down."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.started = self._read()

    def _read(self) -> tuple[float, float]:
        tick = os.sysconf("SC_CLK_TCK")
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
        server = sum(int(v) for v in Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13])
        mine = os.times()
        return time.monotonic(), busy - server / tick - mine.user - mine.system

    def cores(self) -> float:
        (then, other_then), (now, other_now) = self.started, self._read()
        return max(0.0, other_now - other_then) / max(1e-9, now - then)


def problem_lines(server: RunningServer) -> list[str]:
    markers = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    return [line for line in server.log_text().splitlines() if any(m in line for m in markers)]


# ---------------------------------------------------------------- requests


def sync_request(client: httpx.Client, name: str, data: bytes, model: str, words: bool = False) -> float:
    """Seconds one sync transcription took; `words` asks for what a job makes (timed words, sentence segments)."""
    form: dict[str, Any] = {"model": model}
    if words:
        form |= {"response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}
    started = time.perf_counter()
    response = client.post(TRANSCRIBE_PATH, data=form, files={"file": (name, data)})
    expect_ok(response)
    return time.perf_counter() - started


def job_state(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"{JOBS_PATH}/{job_id}")
    expect_ok(response)
    data: dict[str, Any] = response.json()["data"]
    return data


def submit(client: httpx.Client, path: Path, model: str) -> tuple[str, float, float]:
    """The job's id, the wall clock when the upload began, and the upload's seconds."""
    began, started = time.time(), time.perf_counter()
    with path.open("rb") as audio:
        response = client.post(JOBS_PATH, data={"model": model}, files={"file": (path.name, audio)})
    upload_s = time.perf_counter() - started
    if response.status_code != 202:
        raise BenchError(f"POST {JOBS_PATH} answered {response.status_code}: {response.text[:300]}")
    return response.json()["data"]["id"], began, upload_s


class Follower(threading.Thread):
    """Reads the server's memory and the job's state every SAMPLE_S until the job has finished."""

    def __init__(self, url: str, pid: int, job_id: str, began: float) -> None:
        super().__init__(daemon=True)
        self.url, self.pid, self.job_id, self.began = url, pid, job_id, began
        self.samples: list[Sample] = []
        self.final: dict[str, Any] = {}
        self.running = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=60) as client:
                tick = time.monotonic()
                while True:
                    rss, hwm = read_memory(self.pid)
                    data = job_state(client, self.job_id)
                    progress = data["progress"]
                    self.samples.append(
                        Sample(
                            time.time() - self.began,
                            rss,
                            hwm,
                            data["state"],
                            progress["audio_seconds_done"],
                            progress["fraction"],
                        )
                    )
                    if data["state"] != "queued":
                        self.running.set()
                    if data["state"] in FINISHED:
                        self.final = data
                        return
                    tick += SAMPLE_S
                    time.sleep(max(0.0, tick - time.monotonic()))
        except BaseException as exc:
            self.error = exc
        finally:
            self.running.set()

    def outcome(self, upload_s: float) -> JobRun:
        self.join()
        if self.error is not None:
            raise BenchError(f"following job {self.job_id} failed: {self.error!r}") from self.error
        data = self.final
        if data["state"] != "succeeded":
            raise BenchError(f"job {self.job_id} {data['state']}: {data.get('error')}")
        return JobRun(
            id=self.job_id,
            audio_s=data["progress"]["audio_seconds_total"] or data["progress"]["audio_seconds_done"],
            upload_s=upload_s,
            queued_s=data["started_at"] - self.began,
            running_s=data["finished_at"] - data["started_at"],
            wall_s=data["finished_at"] - self.began,
            samples=self.samples,
        )


def short_requests(client: httpx.Client, clip: Clip, model: str, count: int, every_s: float) -> list[float]:
    """`count` sync requests for `clip`, one starting every `every_s` (or as the previous ends, if later)."""
    latencies = []
    next_start = time.monotonic()
    for _ in range(count):
        time.sleep(max(0.0, next_start - time.monotonic()))
        next_start = time.monotonic() + every_s
        latencies.append(sync_request(client, clip.name, clip.data, model))
    return latencies


def fetch_result(client: httpx.Client, job_id: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.get(f"{JOBS_PATH}/{job_id}/result", params={"response_format": "text"})
    expect_ok(response)
    return time.perf_counter() - started, response.text


# ---------------------------------------------------------------- phases


def long_job(
    args: argparse.Namespace, server: RunningServer, client: httpx.Client, path: Path, short: Clip
) -> dict[str, Any]:
    pid = server.process.pid
    time.sleep(SETTLE_S)
    baseline = settled_rss(pid)
    reset = reset_peak(pid)
    hwm_before = read_memory(pid)[1]
    other = OtherCpu(pid)
    log(f"long job: submitting {path.name}")
    job_id, began, upload_s = submit(client, path, args.model)
    follower = Follower(server.url, pid, job_id, began)
    follower.start()
    follower.running.wait()
    log(f"long job {job_id} runs; {args.short_count} short sync requests, one every {args.short_every:g} s")
    busy = short_requests(client, short, args.short_model, args.short_count, args.short_every)
    log("short requests done; waiting for the long job")
    run = follower.outcome(upload_s)
    rss_after, hwm_after = read_memory(pid)
    result_s, text = fetch_result(client, job_id)
    return {
        "job": run,
        "baseline_rss_mib": baseline,
        "hwm_reset": reset,
        "hwm_before_mib": hwm_before,
        "peak_hwm_mib": hwm_after,
        "peak_sampled_rss_mib": max(s.rss_mib for s in run.samples),
        "rss_after_mib": rss_after,
        "busy_latencies_s": busy,
        "result_text_s": result_s,
        "result_words": len(text.split()),
        "other_cpu_cores": other.cores(),
    }


def throughput(args: argparse.Namespace, server: RunningServer, client: httpx.Client, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    plain, words, jobs = [], [], []
    other = OtherCpu(server.process.pid)
    for attempt in range(args.runs):
        label = f"{args.sync_minutes:g} min, run {attempt + 1}/{args.runs}"
        time.sleep(SETTLE_S)
        log(f"throughput: sync request ({label})")
        plain.append(sync_request(client, path.name, data, args.model))
        time.sleep(SETTLE_S)
        log(f"throughput: sync request with timed words ({label})")
        words.append(sync_request(client, path.name, data, args.model, words=True))
        time.sleep(SETTLE_S)
        log(f"throughput: job ({label})")
        job_id, began, upload_s = submit(client, path, args.model)
        follower = Follower(server.url, server.process.pid, job_id, began)
        follower.start()
        jobs.append(follower.outcome(upload_s))
    return {
        "audio_s": jobs[0].audio_s,
        "sync_s": statistics.median(plain),
        "sync_words_s": statistics.median(words),
        "job_wall_s": statistics.median(j.wall_s for j in jobs),
        "job_running_s": statistics.median(j.running_s for j in jobs),
        "job_queued_s": statistics.median(j.queued_s for j in jobs),
        "sync_runs_s": plain,
        "sync_words_runs_s": words,
        "job_wall_runs_s": [j.wall_s for j in jobs],
        "other_cpu_cores": other.cores(),
    }


# ---------------------------------------------------------------- report


def progress_rows(samples: list[Sample], every_s: float | None) -> list[Sample]:
    """The first sample at each 10 % of progress, or one every `every_s` seconds; the last one always."""
    rows: list[Sample] = []
    if every_s:
        for sample in samples:
            if not rows or sample.wall_s >= rows[-1].wall_s + every_s:
                rows.append(sample)
    else:
        step = 0
        for sample in samples:
            if sample.fraction is not None and sample.fraction >= step / 10:
                rows.append(sample)
                step = int(sample.fraction * 10 + 1e-9) + 1
    if samples and (not rows or rows[-1] is not samples[-1]):
        rows.append(samples[-1])
    return rows


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    for row in [header, *rows]:
        print("  " + "  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))


def report_long(long: dict[str, Any], idle: dict[str, Any], every_s: float | None, short_every: float) -> None:
    run: JobRun = long["job"]
    baseline = long["baseline_rss_mib"]
    print(f"\nLong job: {run.audio_s:.0f} s of audio ({run.audio_s / 3600:.2f} h)")
    print(f"  upload                          {run.upload_s:8.1f} s")
    print(f"  submitted -> running            {run.queued_s:8.1f} s")
    print(f"  running (started -> finished)   {run.running_s:8.1f} s")
    print(f"  submitted -> succeeded (wall)   {run.wall_s:8.1f} s  = {run.rate:.1f} audio s/s")
    print(f"  result as text                  {long['result_text_s']:8.2f} s  ({long['result_words']} words)")
    print("Server memory (MiB)")
    print(f"  after preload (settled)         {long['rss_after_start_mib']:8.0f}")
    print(f"  baseline before submission      {baseline:8.0f}")
    reset = "reset at submission" if long["hwm_reset"] else "since the server started: could not reset"
    print(f"  peak VmHWM ({reset})  {long['peak_hwm_mib']:8.0f}")
    print(f"  peak VmRSS, sampled every {SAMPLE_S:g} s  {long['peak_sampled_rss_mib']:8.0f}")
    print(f"  peak - baseline                 {long['peak_hwm_mib'] - baseline:8.0f}")
    print(f"  peak - after preload            {long['peak_hwm_mib'] - long['rss_after_start_mib']:8.0f}")
    print(f"  after the job                   {long['rss_after_mib']:8.0f}")
    print(f"  other processes' CPU during the job: {long['other_cpu_cores']:.2f} cores on average")
    rows, previous = [], None
    for sample in progress_rows(run.samples, every_s):
        rate = ""
        if previous is not None and sample.wall_s > previous.wall_s:
            rate = f"{(sample.done_s - previous.done_s) / (sample.wall_s - previous.wall_s):.1f}"
        fraction = "-" if sample.fraction is None else f"{sample.fraction:.3f}"
        rows.append([f"{sample.wall_s:.0f}", f"{sample.done_s:.0f}", fraction, rate, f"{sample.rss_mib:.0f}"])
        previous = sample
    header = ["wall s", "audio_seconds_done", "fraction", "audio s/s since last row", "RSS MiB"]
    print_table("Progress of the long job (wall s from the submission)", header, rows)
    busy = {"latencies_s": long["busy_latencies_s"], "other_cpu_cores": long["other_cpu_cores"]}
    print_table(
        f"Short sync request ({SHORT}, 11 s), one every ~{short_every:g} s: latency",
        ["server", "n", "median s", "max s", "other CPU", "runs s"],
        [latency_row("idle", idle), latency_row("long job running", busy)],
    )


def latency_row(label: str, phase: dict[str, Any]) -> list[str]:
    values = phase["latencies_s"]
    median, most = statistics.median(values), max(values)
    other = f"{phase['other_cpu_cores']:.2f}"
    return [label, str(len(values)), f"{median:.2f}", f"{most:.2f}", other, fmt_list(values)]


def report_throughput(data: dict[str, Any], runs: int) -> None:
    audio = data["audio_s"]
    job_rate = audio / data["job_wall_s"]
    rows = [
        [
            "sync request (json)",
            f"{data['sync_s']:.1f}",
            f"{audio / data['sync_s']:.1f}",
            f"{data['sync_s'] / data['job_wall_s']:.2f}",
        ],
        [
            "sync request (verbose_json, words)",
            f"{data['sync_words_s']:.1f}",
            f"{audio / data['sync_words_s']:.1f}",
            f"{data['sync_words_s'] / data['job_wall_s']:.2f}",
        ],
        ["job (submitted -> succeeded)", f"{data['job_wall_s']:.1f}", f"{job_rate:.1f}", "1.00"],
        ["job (running only)", f"{data['job_running_s']:.1f}", f"{audio / data['job_running_s']:.1f}", ""],
    ]
    title = f"Idle server, {audio:.0f} s of audio (median of {runs}); a job times words and cuts sentences"
    print_table(title, ["", "seconds", "audio s/s", "job rate / this rate"], rows)
    print(f"  other processes' CPU meanwhile: {data['other_cpu_cores']:.2f} cores on average")


def fmt_list(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en", help="the jobs' and sync requests' model (default tiny.en)")
    parser.add_argument("--short-model", help="the short sync requests' model (default: --model)")
    parser.add_argument("--hours", type=float, default=3.0, help="the long job's audio (default 3)")
    parser.add_argument("--skip-long", action="store_true", help="leave out the long job (memory, progress, waits)")
    parser.add_argument("--sync-minutes", type=float, default=10.0, help="audio of the sync-vs-job comparison")
    parser.add_argument("--skip-sync", action="store_true", help="leave out the sync-vs-job comparison")
    parser.add_argument("--runs", type=int, default=1, help="runs of the sync-vs-job comparison (median)")
    parser.add_argument("--short-count", type=int, default=10, help="short sync requests, idle and during the job")
    parser.add_argument("--short-every", type=float, default=2.0, help="seconds between short requests' starts")
    parser.add_argument("--progress-every", type=float, help="progress rows every N s (default: every 10%%)")
    parser.add_argument("--window-s", type=float, help="AUDIO_JOBS_WINDOW_S for the server (default: its own, 60)")
    parser.add_argument("--format", choices=("mp3", "opus"), default="mp3", help="the recordings' encoding")
    parser.add_argument("--kbps", type=int, default=32, help="the recordings' bit rate (default 32)")
    parser.add_argument("--seed", type=int, default=1, help="the clips' order and gaps")
    parser.add_argument("--audio-dir", type=Path, help="keep the recordings here and reuse them (default: temporary)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.short_count < 1:
        parser.error("--runs and --short-count must be at least 1")
    args.short_model = args.short_model or args.model
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    folder = args.audio_dir or workdir
    folder.mkdir(parents=True, exist_ok=True)
    long_path = None if args.skip_long else recording(folder, args.hours * 3600, args.format, args.kbps, args.seed)
    sync_path = None
    if not args.skip_sync:
        sync_path = recording(folder, args.sync_minutes * 60, args.format, args.kbps, args.seed + 1)
    short_data = (AUDIO_DIR / SHORT).read_bytes()
    short = Clip(SHORT, short_data, len(decode(AUDIO_DIR / SHORT)) / WHISPER_RATE)
    env = {} if args.window_s is None else {"AUDIO_JOBS_WINDOW_S": f"{args.window_s:g}"}
    results: dict[str, Any] = {}
    log("starting the server")
    with jobs_server(workdir, env) as server, httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
        pid = server.process.pid
        after_start = settled_rss(pid)
        log("warming up, then short requests on the idle server")
        sync_request(client, short.name, short.data, args.model)
        sync_request(client, short.name, short.data, args.short_model)
        time.sleep(SETTLE_S)
        other = OtherCpu(pid)
        idle = short_requests(client, short, args.short_model, args.short_count, args.short_every)
        results["idle"] = {"latencies_s": idle, "other_cpu_cores": other.cores()}
        if long_path is not None:
            results["long"] = {"rss_after_start_mib": after_start, **long_job(args, server, client, long_path, short)}
        if sync_path is not None:
            results["throughput"] = throughput(args, server, client, sync_path)
        results["server_log_problems"] = problem_lines(server)[:10]
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="audio-bench-jobs-") as tmp:
            results = run(args, Path(tmp))
    except (BenchError, httpx.HTTPError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"model {args.model}, short requests {args.short_model}, recordings {args.format} at {args.kbps} kbps")
    if "long" in results:
        report_long(results["long"], results["idle"], args.progress_every, args.short_every)
    else:
        print_table(
            f"Short sync request ({SHORT}, 11 s), one every ~{args.short_every:g} s: latency",
            ["server", "n", "median s", "max s", "other CPU", "runs s"],
            [latency_row("idle", results["idle"])],
        )
    if "throughput" in results:
        report_throughput(results["throughput"], args.runs)
    problems = results["server_log_problems"]
    print(f"\nserver log: {len(problems)} warning/error lines" + "".join(f"\n  {p}" for p in problems))
    print(f"elapsed {elapsed:.0f} s\n")
    if "long" in results:
        job: JobRun = results["long"]["job"]
        results["long"]["job"] = {k: v for k, v in asdict(job).items() if k != "samples"} | {
            "audio_s_per_s": job.rate,
            "progress": [asdict(s) for s in progress_rows(job.samples, args.progress_every)],
        }
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print(json.dumps(rounded({"options": options, **results, "elapsed_s": elapsed}), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
