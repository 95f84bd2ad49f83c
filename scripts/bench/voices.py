"""Each embedded voice through the real server: first byte, real-time factor, and memory with all of them loaded.

    .venv/bin/python scripts/bench/voices.py [--rounds 3]

Each voice speaks a short paragraph of its language as pcm, once to load it and then `--rounds` times; the
first byte is timed from the request, the real-time factor is the whole answer's time over its audio. The
server's memory is read after start-up (the preloaded voices) and again once every voice has spoken.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import SYNTHESIZE_PATH, expect_ok, http_client, log, read_memory, running_server

from engines.models.registry_files import load_registry
from server.config import PROJECT_ROOT

ENGLISH = (
    "The library opens at nine in the morning and closes at six in the evening. "
    "Visitors may borrow up to five books at a time, and each loan lasts three weeks."
)
JAPANESE = "図書館は朝九時に開き、夕方六時に閉まります。本は一度に五冊まで借りることができます。"
SENTENCES = {"en": ENGLISH, "ja": JAPANESE}
VOICES = {
    name: SENTENCES[voice.speaks.split("-")[0]]
    for name, voice in load_registry(PROJECT_ROOT / "models.toml").voices.items()
    if voice.source.files  # the embedded voices
}
RATE = 24000


def speak(client: httpx.Client, voice: str, text: str) -> tuple[float, float, float]:
    """(first byte s, whole answer s, audio s) of one pcm request."""
    started = time.perf_counter()
    first = 0.0
    size = 0
    body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm"}
    with client.stream("POST", SYNTHESIZE_PATH, json=body) as response:
        if response.status_code != 200:
            response.read()
            expect_ok(response)
        for chunk in response.iter_bytes():
            if not first:
                first = time.perf_counter() - started
            size += len(chunk)
    return first, time.perf_counter() - started, size / 2 / RATE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, running_server(Path(work)) as server, http_client(server.url) as client:
        pid = server.process.pid
        rss, _ = read_memory(pid)
        log(f"started: RSS {rss:.0f} MiB (whisper-1, tiny.en, the voices of the names preloaded)")
        print("| voice | load + first answer (s) | first byte (s) | RTF | audio (s) |")
        print("|---|---|---|---|---|")
        for voice, text in VOICES.items():
            started = time.perf_counter()
            speak(client, voice, text)
            cold = time.perf_counter() - started
            runs = [speak(client, voice, text) for _ in range(args.rounds)]
            first = statistics.median(r[0] for r in runs)
            rtf = statistics.median(r[1] / r[2] for r in runs)
            print(f"| `{voice}` | {cold:.2f} | {first:.2f} | {rtf:.2f} | {runs[0][2]:.1f} |", flush=True)
        rss, peak = read_memory(pid)
        log(f"every voice loaded: RSS {rss:.0f} MiB, peak {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
