"""Batched transcription: the server over HTTP against faster-whisper's BatchedInferencePipeline
in-process (the floor), in the same run, over several rounds; prints a table, then one JSON line.

Throughput is audio seconds transcribed per second of wall time, with `level` clients each
sending the 11 s clip in a loop (the floor: `level` threads sharing one model with
`num_workers=level`). Latency is one request for a 60 s and a 10-minute clip. Each number is
the median of the rounds; peak memory is the processes' high-water mark.

    .venv/bin/python scripts/bench/batching.py [--rounds 3] [--model tiny.en] [--quick] [--levels 1,2,4,8]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from common import (
    AUDIO_DIR,
    PARAGRAPH,
    SYNTHESIZE_PATH,
    Clip,
    expect_ok,
    http_client,
    log,
    read_memory,
    running_server,
    transcribe_http,
)
from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

from engines.audio.decode import WHISPER_RATE, decode
from engines.models.registry_files import load_registry
from engines.models.sources import materialize
from server.config import Settings

SHORT = "jfk_ask_not.flac"
ENGLISH = ("jfk_ask_not.flac", "librivox_sense_and_sensibility_0880.mp3", "librivox_sense_and_sensibility_0930.webm")
LEVELS = (1, 2, 4, 8)
FLOOR_BATCH_SIZE = 8
THROUGHPUT_C4_MIN = 1.0
LATENCY_60_MAX = 1.0


READINGS = (
    PARAGRAPH,
    "The river rises in the hills to the north and runs for two hundred miles before it meets the sea. "
    "Farmers along its banks grow wheat, barley and apples, and in spring the orchards turn white with blossom. "
    "A railway follows the valley, stopping at every market town, and the journey from end to end takes most "
    "of a day. Old stone bridges cross the water every few miles; the oldest was built more than six hundred "
    "years ago and still carries traffic. In autumn the salmon swim upstream to spawn, and people gather on "
    "the bridges to watch them leap the weirs.",
    "To reset the router, unplug it from the wall and wait thirty seconds before plugging it back in. The "
    "lights on the front will blink amber while it starts, then turn green once it has found the network. "
    "If the green light does not appear within five minutes, press the small button on the back with a "
    "paper clip and hold it for ten seconds. This restores the factory settings, so you will need to enter "
    "the network name and password again, which are printed on the label underneath.",
)


def english(url: str, seconds: float) -> bytes:
    """Real English recordings and the server's own voice reading three paragraphs: about two minutes
    with no sentence twice, so that no 30 s chunk repeats itself (Whisper takes repeated text for a
    loop, and decodes it again hotter). Repeated to `seconds`, as FLAC."""
    pause = np.zeros(WHISPER_RATE, dtype=np.float32)
    parts = [part for name in ENGLISH for part in (decode(AUDIO_DIR / name), pause)]
    with http_client(url) as client:
        for text in READINGS:
            body = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": "wav"}
            response = client.post(SYNTHESIZE_PATH, json=body)
            expect_ok(response)
            parts += [decode(io.BytesIO(response.content)), pause]
    unit = np.concatenate(parts)
    audio = np.tile(unit, int(seconds * WHISPER_RATE / len(unit)) + 1)[: int(seconds * WHISPER_RATE)]
    out = io.BytesIO()
    sf.write(out, audio, WHISPER_RATE, format="FLAC")
    return out.getvalue()


class Floor:
    """faster-whisper's batched pipeline on the same model files, one model per worker count."""

    def __init__(self, path: Path, beam_size: int) -> None:
        self.path = path
        self.beam_size = beam_size
        self._models: dict[int, BatchedInferencePipeline] = {}

    def pipeline(self, workers: int) -> BatchedInferencePipeline:
        if workers not in self._models:
            model = WhisperModel(
                str(self.path), device="cpu", compute_type="int8", num_workers=workers, local_files_only=True
            )
            self._models = {workers: BatchedInferencePipeline(model)}  # one at a time in memory
        return self._models[workers]

    def transcribe(self, data: bytes, workers: int = 1) -> str:
        segments, _ = self.pipeline(workers).transcribe(
            decode_audio(io.BytesIO(data)), beam_size=self.beam_size, batch_size=FLOOR_BATCH_SIZE
        )
        return "".join(s.text for s in segments)


def http_transcribe(url: str, model: str, name: str, data: bytes) -> float:
    with http_client(url) as client:
        return transcribe_http(client, Clip(name, data, 0.0), model)


def throughput(level: int, requests: int, seconds: float, one: Any) -> float:
    tickets = iter(range(requests))
    lock = threading.Lock()

    def client(_: int) -> None:
        while True:
            with lock:
                if next(tickets, None) is None:
                    return
            one()

    started = time.perf_counter()
    with ThreadPoolExecutor(level) as pool:
        list(pool.map(client, range(level)))
    return requests * seconds / (time.perf_counter() - started)


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def one_round(
    url: str, model: str, floor: Floor, clips: dict[str, tuple[bytes, float]], quick: bool, levels: tuple[int, ...]
) -> dict[str, Any]:
    short, short_s = clips["11 s"]
    result: dict[str, Any] = {"throughput": {}, "latency": {}}
    for level in levels:
        requests = max(4, 2 * level) if quick else max(8, 3 * level)
        log(f"throughput at concurrency {level}: {requests} requests each way")
        floor.pipeline(level)
        floor.transcribe(short, level)  # warm
        time.sleep(0.5)
        local = throughput(level, requests, short_s, lambda n=level: floor.transcribe(short, n))
        time.sleep(0.5)
        served = throughput(level, requests, short_s, lambda: http_transcribe(url, model, SHORT, short))
        result["throughput"][str(level)] = {"server": served, "floor": local, "ratio": served / local}
    floor.pipeline(1)
    for label in ("60 s", "10 min"):
        data, _ = clips[label]
        log(f"latency of the {label} clip")
        time.sleep(0.5)
        local = timed(lambda d=data: floor.transcribe(d, 1))
        time.sleep(0.5)
        served = timed(lambda d=data, n=f"{label}.flac": http_transcribe(url, model, n, d))
        result["latency"][label] = {"server": served, "floor": local, "ratio": served / local}
    return result


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def med(path: tuple[str, ...]) -> float:
        values = []
        for r in rounds:
            node: Any = r
            for key in path:
                node = node[key]
            values.append(node)
        return statistics.median(values)

    out: dict[str, Any] = {"throughput": {}, "latency": {}}
    for section in ("throughput", "latency"):
        for key in rounds[0][section]:
            out[section][key] = {f: med((section, key, f)) for f in ("server", "floor", "ratio")}
    return out


def report(median: dict[str, Any], rounds: list[dict[str, Any]], memory: dict[str, float], model: str) -> str:
    lines = [f"Batched transcription, {model}, median of {len(rounds)} rounds", ""]
    lines.append("| concurrency | server audio-s/s | floor audio-s/s | server / floor | rounds (ratio) |")
    lines.append("|---|---|---|---|---|")
    for level, row in median["throughput"].items():
        each = ", ".join(f"{r['throughput'][level]['ratio']:.2f}" for r in rounds)
        lines.append(f"| {level} | {row['server']:.1f} | {row['floor']:.1f} | {row['ratio']:.2f} | {each} |")
    lines += ["", "| clip | server s | floor s | server / floor | rounds (ratio) |", "|---|---|---|---|---|"]
    for label, row in median["latency"].items():
        each = ", ".join(f"{r['latency'][label]['ratio']:.2f}" for r in rounds)
        lines.append(f"| {label} | {row['server']:.2f} | {row['floor']:.2f} | {row['ratio']:.2f} | {each} |")
    lines += [
        "",
        f"peak memory: server {memory['server_mib']:.0f} MiB, bench process (floor) {memory['floor_mib']:.0f} MiB",
    ]
    lines.append("")
    for target, ratio, met in targets(median):
        if ratio is None:
            lines.append(f"{target}: not measured (see --levels)")
        else:
            lines.append(f"{target}: {ratio:.2f} " + ("met" if met else "MISSED"))
    return "\n".join(lines)


def targets(median: dict[str, Any]) -> list[tuple[str, float | None, bool | None]]:
    """Each target, its measured ratio and whether it was met; None where `--levels` left concurrency 4 out."""
    c4: float | None = median["throughput"].get("4", {}).get("ratio")
    l60: float = median["latency"]["60 s"]["ratio"]
    return [
        (
            f"target throughput at concurrency 4 >= {THROUGHPUT_C4_MIN:.2f}x floor",
            c4,
            None if c4 is None else c4 >= THROUGHPUT_C4_MIN,
        ),
        (f"target 60 s latency <= {LATENCY_60_MAX:.2f}x floor", l60, l60 <= LATENCY_60_MAX),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="tiny.en", help="a transcription model slug or alias (default tiny.en)")
    parser.add_argument("--quick", action="store_true", help="one round, fewer requests, no 10-minute clip")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels (default 1,2,4,8)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    entry = registry.resolve(args.model)
    if entry is None or entry.source is None:
        print(f"no transcription model {args.model!r} in models.toml", file=sys.stderr)
        return 2
    floor = Floor(materialize(entry.source, entry.slug, settings.cache_dir), entry.beam_size)
    rounds_wanted = 1 if args.quick else args.rounds
    levels = tuple(int(level) for level in args.levels.split(","))
    with tempfile.TemporaryDirectory() as workdir, running_server(Path(workdir)) as server:
        clips = {"11 s": (AUDIO_DIR.joinpath(SHORT).read_bytes(), 11.0), "60 s": (english(server.url, 60), 60.0)}
        clips["10 min"] = (english(server.url, 60 if args.quick else 600), 600.0)
        http_transcribe(server.url, args.model, SHORT, clips["11 s"][0])  # warm
        rounds = []
        for index in range(rounds_wanted):
            log(f"round {index + 1} of {rounds_wanted}")
            rounds.append(one_round(server.url, args.model, floor, clips, args.quick, levels))
        memory = {"server_mib": read_memory(server.process.pid)[1], "floor_mib": read_memory_self()}
    median = median_of(rounds)
    print(report(median, rounds, memory, entry.slug))
    print(json.dumps({"model": entry.slug, "median": median, "rounds": rounds, "memory": memory}))
    return 0 if all(met is not False for _, _, met in targets(median)) else 1


def read_memory_self() -> float:
    return read_memory(os.getpid())[1]


if __name__ == "__main__":
    sys.exit(main())
