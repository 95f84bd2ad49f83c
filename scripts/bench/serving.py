"""Benchmark the server over HTTP against the same engines in-process; prints a table, then one JSON line.

.venv/bin/python scripts/bench/serving.py [--quick] [--skip-memory] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from common import (
    AUDIO_DIR,
    PARAGRAPH,
    SYNTHESIZE_PATH,
    WHISPER,
    BenchError,
    Clip,
    expect_ok,
    http_client,
    log,
    read_memory,
    running_server,
    transcribe_http,
)

from engines.audio.decode import WHISPER_RATE, decode
from engines.audio.encode import FORMATS, Encoder
from engines.base import SpeechSettings, Synthesizer, Transcriber, TranscriptionOptions
from engines.loader import ModelFiles, ModelLoader
from engines.models.registry_files import load_registry
from server.config import Settings
from server.core.served import Served

T = TypeVar("T")

TINY, TTS, VOICE = "tiny.en", "tts-1", "alloy"
SHORT_CLIP, LONG_CLIP = "jfk_ask_not.flac", "librivox_de_simplicissimus_title.mp3"
MIX_CLIPS = ("pocketsphinx_cards_002.wav", "librivox_sense_and_sensibility_0880.mp3")
FORMAT_NAMES = tuple(FORMATS)
STREAMED_FORMATS = tuple(name for name, fmt in FORMATS.items() if fmt.streamable)
SENTENCE = "The weather today is sunny with a light breeze from the west."
MIX_SENTENCES = ("Hello there.", "Your order is ready.", "Please hold the line.", "See you tomorrow morning.")
# Intel OpenMP (CTranslate2) and onnxruntime threads spin for up to ~200 ms after work;
# pausing between measurements keeps one side's spinning out of the other side's timing.
SETTLE_S = 0.3

LATENCY_RATIO_MAX = 1.05
THROUGHPUT_RATIO_MIN = 0.95
FIRST_BYTE_SHARE_MAX = 0.15
FIRST_BYTE_UNDER_LOAD_MAX_S = 1.0
RSS_GROWTH_MAX = 1.05


@dataclass(frozen=True)
class Plan:
    runs: int
    throughput_requests: int
    paragraph: str
    memory_checkpoints: tuple[int, int]
    skip_memory: bool
    quick: bool
    throughput_levels: tuple[int, ...] = (1, 2, 4, 8)
    synthesis_levels: tuple[int, ...] = (1, 4, 8)
    mix_concurrency: int = 4


@dataclass(frozen=True)
class Timing:
    first: float
    """Seconds until the first non-empty chunk."""
    total: float
    size: int


@dataclass
class LocalEngines:
    whisper: Transcriber
    voice: Synthesizer
    settings: SpeechSettings


@dataclass(frozen=True)
class Target:
    name: str
    measured: float | None
    limit: float
    at_least: bool = False

    @property
    def passed(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit


# ---------------------------------------------------------------- plumbing


def run_parallel(work: Callable[[int], T], count: int) -> list[T]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(work, range(count)))


def median_timing(timings: Sequence[Timing]) -> Timing:
    return Timing(
        first=statistics.median(t.first for t in timings),
        total=statistics.median(t.total for t in timings),
        size=timings[0].size,
    )


def time_chunks(chunks: Iterable[bytes], started: float) -> Timing:
    first: float | None = None
    size = 0
    for chunk in chunks:
        if chunk and first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    total = time.perf_counter() - started
    return Timing(first=total if first is None else first, total=total, size=size)


def first_sentences(text: str, count: int) -> str:
    return ". ".join(text.split(". ")[:count]) + "."


# ---------------------------------------------------------------- server log and memory


def log_problems(path: Path) -> list[str]:
    """Warnings, errors and tracebacks the server logged (it runs at --log-level warning)."""
    markers = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    return [line for line in path.read_text(errors="replace").splitlines() if any(m in line for m in markers)]


def settled_rss(pid: int, tolerance_mib: float = 1.0, limit_s: float = 15.0) -> float:
    """RSS once two readings a second apart agree (or after `limit_s`)."""
    previous = read_memory(pid)[0]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = read_memory(pid)[0]
        if abs(current - previous) <= tolerance_mib:
            return current
        previous = current
    return previous


# ---------------------------------------------------------------- one request, HTTP and in-process


def load_clip(name: str) -> Clip:
    data = (AUDIO_DIR / name).read_bytes()
    return Clip(name=name, data=data, seconds=len(decode(io.BytesIO(data))) / WHISPER_RATE)


def load_local() -> LocalEngines:
    settings = Settings.from_env()
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    loader = ModelLoader(registry, ModelFiles(settings.cache_dir))
    loader_files = ModelFiles(settings.cache_dir)
    mapping = Served(registry, loader_files.installed(registry)).voice(VOICE)
    whisper_entry, tts_entry = registry.resolve(WHISPER), registry.resolve(TTS)
    assert whisper_entry is not None and tts_entry is not None and mapping is not None, "models.toml lacks a model"
    voice_settings = SpeechSettings(
        speaker_id=mapping.speaker_id,
        length_scale=mapping.length_scale,
        noise_scale=mapping.noise_scale,
        noise_w_scale=mapping.noise_w_scale,
    )
    return LocalEngines(
        whisper=loader.transcriber(whisper_entry),
        voice=loader.synthesizer(mapping.voice, tts_entry),
        settings=voice_settings,
    )


def transcribe_local(engines: LocalEngines, clip: Clip) -> float:
    started = time.perf_counter()
    _, segments = engines.whisper.stream(decode(io.BytesIO(clip.data)), TranscriptionOptions())
    list(segments)
    return time.perf_counter() - started


def speak_http(client: httpx.Client, text: str, format_name: str) -> Timing:
    body = {"model": TTS, "input": text, "voice": VOICE, "response_format": format_name}
    started = time.perf_counter()
    with client.stream("POST", SYNTHESIZE_PATH, json=body) as response:
        if response.status_code != 200:
            response.read()
            expect_ok(response)
        timing = time_chunks(response.iter_bytes(), started)
    if not timing.size:
        raise BenchError(f"synthesis in {format_name} answered 200 with no audio")
    return timing


def speak_local(engines: LocalEngines, text: str, format_name: str) -> Timing:
    started = time.perf_counter()
    return time_chunks(local_speech(engines, text, format_name), started)


def local_speech(engines: LocalEngines, text: str, format_name: str) -> Iterator[bytes]:
    """What the server's speech job does, minus the render gate and the HTTP stream."""
    rate = engines.voice.info.sample_rate
    encoder = Encoder(format_name, rate)
    for piece in engines.voice.pieces(text):
        audio = engines.voice.render(piece.units, engines.settings)
        yield encoder.push(np.concatenate([audio, np.zeros(int(rate * piece.pause_after_s), np.float32)]))
    yield encoder.finish()


def paired(http: Callable[[], T], local: Callable[[], T], runs: int) -> tuple[list[T], list[T]]:
    """Alternate HTTP and in-process runs, so drifting background load hits both alike."""
    http_results: list[T] = []
    local_results: list[T] = []
    for _ in range(runs):
        http_results.append(http())
        time.sleep(SETTLE_S)
        local_results.append(local())
        time.sleep(SETTLE_S)
    return http_results, local_results


# ---------------------------------------------------------------- transcription


def bench_transcription(plan: Plan, url: str, engines: LocalEngines, clips: dict[str, Clip]) -> dict[str, Any]:
    with http_client(url) as client:
        latency = [latency_row(plan, client, engines, clips[name]) for name in (SHORT_CLIP, LONG_CLIP)]
    short = clips[SHORT_CLIP]
    log(f"transcription throughput: in-process, {plan.throughput_requests} sequential requests")
    local_rate = local_throughput(engines, short, plan.throughput_requests)
    http_rates: dict[str, float] = {}
    for level in plan.throughput_levels:
        time.sleep(SETTLE_S)
        log(f"transcription throughput: HTTP at concurrency {level}")
        http_rates[str(level)] = http_throughput(url, short, level, plan.throughput_requests)
    return {
        "latency": latency,
        "throughput": {
            "clip": short.name,
            "requests": plan.throughput_requests,
            "local_audio_s_per_s": local_rate,
            "http_audio_s_per_s": http_rates,
        },
        "latency_ratio_long": latency[1]["ratio"],
        "throughput_ratio_c4": http_rates["4"] / local_rate if "4" in http_rates else None,
    }


def latency_row(plan: Plan, client: httpx.Client, engines: LocalEngines, clip: Clip) -> dict[str, Any]:
    log(f"transcription latency: {clip.name}, {plan.runs} runs each way")
    http, local = paired(lambda: transcribe_http(client, clip), lambda: transcribe_local(engines, clip), plan.runs)
    http_s, local_s = statistics.median(http), statistics.median(local)
    return {
        "clip": clip.name,
        "audio_s": clip.seconds,
        "http_s": http_s,
        "local_s": local_s,
        "ratio": http_s / local_s,
        "http_runs_s": http,
        "local_runs_s": local,
    }


def local_throughput(engines: LocalEngines, clip: Clip, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        transcribe_local(engines, clip)
    return requests * clip.seconds / (time.perf_counter() - started)


def http_throughput(url: str, clip: Clip, level: int, requests: int) -> float:
    """Audio seconds transcribed per second by `level` workers sharing `requests` uploads."""
    tickets: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(requests):
        tickets.put(index)

    def worker(_: int) -> None:
        with http_client(url) as client:
            while True:
                try:
                    tickets.get_nowait()
                except queue.Empty:
                    return
                transcribe_http(client, clip)

    started = time.perf_counter()
    run_parallel(worker, level)
    return requests * clip.seconds / (time.perf_counter() - started)


# ---------------------------------------------------------------- synthesis


def bench_synthesis(plan: Plan, url: str, engines: LocalEngines) -> dict[str, Any]:
    texts = {"sentence": SENTENCE, "paragraph": plan.paragraph}
    rows = []
    with http_client(url) as client:
        for label, text in texts.items():
            log(f"synthesis by format: {label} ({len(text)} chars), {plan.runs} runs each way")
            found = [format_row(plan, client, engines, label, text, name) for name in FORMAT_NAMES]
            # Real-time factor: time to make the answer over the audio it holds (pcm tells the length).
            audio_s = next(r["bytes"] for r in found if r["format"] == "pcm") / (2 * 24000)
            for row in found:
                row["audio_s"] = audio_s
                row["http_rtf"] = row["http_total_s"] / audio_s
            rows += found
    concurrency = {}
    for level in plan.synthesis_levels:
        time.sleep(SETTLE_S)
        log(f"synthesis: paragraph in pcm at concurrency {level}")
        concurrency[str(level)] = concurrency_row(speak_concurrently(url, plan.paragraph, "pcm", level))
    return {
        "sentence_chars": len(SENTENCE),
        "paragraph_chars": len(plan.paragraph),
        "by_format": rows,
        "paragraph_pcm_concurrency": concurrency,
    }


def format_row(
    plan: Plan, client: httpx.Client, engines: LocalEngines, label: str, text: str, format_name: str
) -> dict[str, Any]:
    http, local = paired(
        lambda: speak_http(client, text, format_name), lambda: speak_local(engines, text, format_name), plan.runs
    )
    http_median, local_median = median_timing(http), median_timing(local)
    return {
        "text": label,
        "format": format_name,
        "http_first_s": http_median.first,
        "http_total_s": http_median.total,
        "http_first_share": http_median.first / http_median.total,
        "local_first_s": local_median.first,
        "local_total_s": local_median.total,
        "bytes": http_median.size,
    }


def speak_concurrently(url: str, text: str, format_name: str, level: int) -> list[Timing]:
    start_together = threading.Barrier(level)

    def one(_: int) -> Timing:
        with http_client(url) as client:
            start_together.wait()
            return speak_http(client, text, format_name)

    return run_parallel(one, level)


def concurrency_row(timings: Sequence[Timing]) -> dict[str, float]:
    return {
        "first_median_s": statistics.median(t.first for t in timings),
        "first_max_s": max(t.first for t in timings),
        "total_median_s": statistics.median(t.total for t in timings),
        "total_max_s": max(t.total for t in timings),
    }


# ---------------------------------------------------------------- memory


def mix_call(index: int, clips: dict[str, Clip]) -> Callable[[httpx.Client], object]:
    """Request `index` of the mix: per twenty, one whisper-1 and three tiny.en uploads, sixteen short syntheses.

    whisper-1 always decodes a 30 s window (about 2-3 s of CPU here, however short the clip), so it is kept rare.
    """
    slot = index % 20
    clip = clips[MIX_CLIPS[(index // 20 + slot // 5) % len(MIX_CLIPS)]]
    if slot == 0:
        return lambda client: transcribe_http(client, clip, WHISPER)
    if slot % 5 == 0:
        return lambda client: transcribe_http(client, clip, TINY)
    text = MIX_SENTENCES[(index // len(FORMAT_NAMES)) % len(MIX_SENTENCES)]
    format_name = FORMAT_NAMES[index % len(FORMAT_NAMES)]
    return lambda client: speak_http(client, text, format_name)


def run_mix(url: str, clips: dict[str, Clip], indices: range, concurrency: int) -> list[str]:
    """Send the mixed requests `indices`; returns the errors (the mix goes on past them)."""
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in indices:
        pending.put(index)

    def worker(_: int) -> list[str]:
        errors: list[str] = []
        with http_client(url) as client:
            while True:
                try:
                    index = pending.get_nowait()
                except queue.Empty:
                    return errors
                try:
                    mix_call(index, clips)(client)
                except (BenchError, httpx.HTTPError) as exc:
                    errors.append(f"request {index}: {exc}")

    return [error for errors in run_parallel(worker, concurrency) for error in errors]


def bench_memory(plan: Plan, clips: dict[str, Clip], workdir: Path) -> dict[str, Any]:
    """On a fresh server, so the numbers do not depend on what the other phases sent."""
    first, last = plan.memory_checkpoints
    log("memory: starting a fresh server")
    with running_server(workdir) as server:
        pid = server.process.pid
        after_start = settled_rss(pid)
        log(f"memory: {first} mixed requests")
        errors = run_mix(server.url, clips, range(first), plan.mix_concurrency)
        after_first = settled_rss(pid)
        log(f"memory: {last - first} more mixed requests")
        errors += run_mix(server.url, clips, range(first, last), plan.mix_concurrency)
        after_last = settled_rss(pid)
        peak = read_memory(pid)[1]
    return {
        "checkpoints": [first, last],
        "rss_after_start_mib": after_start,
        "rss_after_first_mib": after_first,
        "rss_after_last_mib": after_last,
        "peak_hwm_mib": peak,
        "growth_ratio": after_last / after_first,
        "errors": len(errors),
        "error_samples": errors[:5],
    }


# ---------------------------------------------------------------- report


def targets(results: dict[str, Any], plan: Plan) -> list[Target]:
    transcription, synthesis = results["transcription"], results["synthesis"]
    paragraph_rows = {r["format"]: r for r in synthesis["by_format"] if r["text"] == "paragraph"}
    under_load = synthesis["paragraph_pcm_concurrency"].get("8")
    found = [
        Target(
            "transcription HTTP/in-process latency, 68 s clip", transcription["latency_ratio_long"], LATENCY_RATIO_MAX
        ),
        Target(
            "transcription throughput HTTP c=4 / in-process",
            transcription["throughput_ratio_c4"],
            THROUGHPUT_RATIO_MIN,
            at_least=True,
        ),
        *(
            Target(f"synthesis first byte / total, paragraph, {name}", row["http_first_share"], FIRST_BYTE_SHARE_MAX)
            for name, row in paragraph_rows.items()
            if name in STREAMED_FORMATS
        ),
        Target(
            "synthesis max first byte (s), paragraph pcm, c=8",
            under_load["first_max_s"] if under_load else None,
            FIRST_BYTE_UNDER_LOAD_MAX_S,
        ),
    ]
    memory = results.get("memory")
    first, last = plan.memory_checkpoints
    growth = memory["growth_ratio"] if memory else None
    return [*found, Target(f"server RSS after {last} / after {first} requests", growth, RSS_GROWTH_MAX)]


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines) + "\n"


def report(results: dict[str, Any], found: list[Target]) -> str:
    sections = [transcription_tables(results["transcription"]), synthesis_tables(results["synthesis"])]
    sections.append(memory_table(results))
    sections.append(target_table(found))
    problems = results["server_log"]
    if problems["problem_lines"]:
        samples = "".join(f"  {line}\n" for line in problems["samples"])
        sections.append(f"Server logs: {problems['problem_lines']} warning/error lines, e.g.\n{samples}")
    return "\n".join(sections)


def transcription_tables(data: dict[str, Any]) -> str:
    latency = table(
        "Transcription latency, whisper-1 (median, s)",
        ["clip", "audio s", "HTTP", "in-process", "HTTP/in-process"],
        [
            [r["clip"], f"{r['audio_s']:.1f}", f"{r['http_s']:.3f}", f"{r['local_s']:.3f}", f"{r['ratio']:.3f}"]
            for r in data["latency"]
        ],
    )
    tp = data["throughput"]
    local = tp["local_audio_s_per_s"]
    rows = [["in-process, sequential", f"{local:.2f}", "1.000"]]
    rows += [
        [f"HTTP, concurrency {c}", f"{rate:.2f}", f"{rate / local:.3f}"] for c, rate in tp["http_audio_s_per_s"].items()
    ]
    throughput = table(
        f"Transcription throughput, whisper-1, {tp['requests']} x {tp['clip']}",
        ["", "audio s / s", "vs in-process"],
        rows,
    )
    return latency + "\n" + throughput


def synthesis_tables(data: dict[str, Any]) -> str:
    by_format = table(
        f"Synthesis, tts-1/alloy, concurrency 1 (median, s; sentence {data['sentence_chars']} chars, "
        f"paragraph {data['paragraph_chars']} chars)",
        ["text", "format", "HTTP first", "HTTP total", "first/total", "RTF", "local first", "local total", "bytes"],
        [
            [
                r["text"],
                r["format"],
                f"{r['http_first_s']:.3f}",
                f"{r['http_total_s']:.3f}",
                f"{r['http_first_share']:.1%}",
                f"{r['http_rtf']:.3f}",
                f"{r['local_first_s']:.3f}",
                f"{r['local_total_s']:.3f}",
                str(r["bytes"]),
            ]
            for r in data["by_format"]
        ],
    )
    under_load = table(
        "Synthesis, paragraph in pcm under concurrency (s)",
        ["concurrency", "first median", "first max", "total median", "total max"],
        [
            [
                c,
                f"{r['first_median_s']:.3f}",
                f"{r['first_max_s']:.3f}",
                f"{r['total_median_s']:.3f}",
                f"{r['total_max_s']:.3f}",
            ]
            for c, r in data["paragraph_pcm_concurrency"].items()
        ],
    )
    return by_format + "\n" + under_load


def memory_table(results: dict[str, Any]) -> str:
    perf = results["perf_server_memory"]
    rows = [
        ["benchmark server, after start", f"{perf['rss_after_start_mib']:.0f}", ""],
        ["benchmark server, at the end", f"{perf['rss_at_end_mib']:.0f}", f"{perf['peak_hwm_mib']:.0f}"],
    ]
    memory = results.get("memory")
    if memory:
        first, last = memory["checkpoints"]
        rows += [
            ["fresh server, after start", f"{memory['rss_after_start_mib']:.0f}", ""],
            [f"fresh server, after {first} mixed requests", f"{memory['rss_after_first_mib']:.0f}", ""],
            [f"fresh server, after {last} mixed requests", f"{memory['rss_after_last_mib']:.0f}", ""],
            ["fresh server, peak", "", f"{memory['peak_hwm_mib']:.0f}"],
            [f"RSS@{last} / RSS@{first} ({memory['errors']} errors)", f"{memory['growth_ratio']:.3f}", ""],
        ]
    return table("Server memory (MiB)", ["", "VmRSS", "VmHWM"], rows)


def target_table(found: list[Target]) -> str:
    verdict = {True: "PASS", False: "FAIL", None: "n/a"}
    rows = [
        [
            t.name,
            "-" if t.measured is None else f"{t.measured:.3f}",
            f"{'>=' if t.at_least else '<='} {t.limit:g}",
            verdict[t.passed],
        ]
        for t in found
    ]
    return table("Targets", ["check", "measured", "target", "result"], rows)


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny numbers of runs and requests (a smoke test)")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the 50/500 mixed-request memory phase")
    parser.add_argument("--runs", type=int, default=None, help="runs per latency median (default 3; 1 with --quick)")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(
            runs=args.runs or 1,
            throughput_requests=2,
            paragraph=first_sentences(PARAGRAPH, 2),
            memory_checkpoints=(10, 30),
            skip_memory=args.skip_memory,
            quick=True,
        )
    return Plan(
        runs=args.runs or 3,
        throughput_requests=8,
        paragraph=PARAGRAPH,
        memory_checkpoints=(50, 500),
        skip_memory=args.skip_memory,
        quick=False,
    )


def warm_up(url: str, engines: LocalEngines, clip: Clip) -> None:
    """First inferences pay one-off costs (allocations, kernels); keep them out of the numbers."""
    with http_client(url) as client:
        transcribe_http(client, clip)
        speak_http(client, SENTENCE, "pcm")
    transcribe_local(engines, clip)
    speak_local(engines, SENTENCE, "pcm")


def run(plan: Plan, workdir: Path) -> dict[str, Any]:
    log("loading clips and the in-process engines")
    clips = {name: load_clip(name) for name in (SHORT_CLIP, LONG_CLIP, *MIX_CLIPS)}
    engines = load_local()
    results: dict[str, Any] = {}
    log("starting the server")
    with running_server(workdir) as server:
        pid = server.process.pid
        after_start = settled_rss(pid)
        log("warming up")
        warm_up(server.url, engines, clips[SHORT_CLIP])
        results["transcription"] = bench_transcription(plan, server.url, engines, clips)
        results["synthesis"] = bench_synthesis(plan, server.url, engines)
        rss, peak = read_memory(pid)
        results["perf_server_memory"] = {
            "rss_after_start_mib": after_start,
            "rss_at_end_mib": rss,
            "peak_hwm_mib": peak,
        }
    if not plan.skip_memory:
        results["memory"] = bench_memory(plan, clips, workdir)
    problems = [line for path in sorted(workdir.glob("server-*.log")) for line in log_problems(path)]
    results["server_log"] = {"problem_lines": len(problems), "samples": problems[:10]}
    return results


def main(argv: list[str] | None = None) -> int:
    plan = make_plan(parse_args(argv))
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="audio-bench-") as tmp:
            results = run(plan, Path(tmp))
    except (BenchError, httpx.HTTPError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    found = targets(results, plan)
    elapsed = time.perf_counter() - started
    if plan.quick:
        print("(--quick: too few runs for the numbers to mean much; this is a smoke test)\n")
    print(report(results, found))
    print(f"elapsed {elapsed:.0f} s\n")
    plan_summary = {k: v for k, v in asdict(plan).items() if k != "paragraph"}
    summary = {
        "plan": plan_summary,
        **results,
        "targets": [
            {"name": t.name, "measured": t.measured, "limit": t.limit, "at_least": t.at_least, "passed": t.passed}
            for t in found
        ],
        "elapsed_s": elapsed,
    }
    print(json.dumps(rounded(summary), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
