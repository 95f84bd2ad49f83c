"""Live transcription over the realtime WebSocket, streamed in real time: latency from the end of speech to
`completed`, from the start of speech to the first delta, and the turns' WER against the file route.

Turns of 3-8 s are built from the English clips in tests/data (jfk_ask_not cut in two at a pause, and the
short clips joined by 100 ms of silence; pauses inside a clip longer than 140 ms are shrunk to 140 ms, so
that the server VAD's 200 ms keeps each turn one item), each followed by 1 s of silence, and sent as 100 ms
chunks of 24 kHz PCM paced by the wall clock. The end of speech is the wall time the chunk holding a
turn's last speech sample was sent (the speech ends 0-100 ms before that chunk's end, 50 ms on average).
One server serves every model; one session per model, then concurrent sessions on tiny.en; then the file
route transcribes each turn's audio (as WAV) for the same model, the server otherwise idle. Besides the
latencies and WERs it prints the server's CPU time per turn, live and on the file route.

.venv/bin/python scripts/bench/realtime.py [--models tiny.en whisper-1] [--rounds 2] [--sessions 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr
import websockets.asyncio.client
from common import AUDIO_DIR, ROOT, TRANSCRIBE_PATH, BenchError, expect_ok, http_client, log, running_server

from engines.audio.decode import decode
from engines.audio.turns import TurnDetector, TurnSettings

_spec = importlib.util.spec_from_file_location("wer", ROOT / "tests" / "wer.py")
assert _spec is not None and _spec.loader is not None
_wer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_wer)
normalise, wer = _wer.normalise, _wer.wer

REALTIME_PATH = "/oai/v1/realtime?intent=transcription"
RATE = 16000
PCM_RATE = 24000
CHUNK_S = 0.1
CHUNK = int(RATE * CHUNK_S)
FRAME = RATE // 50
LEVEL_DB = TurnSettings().level_db
"""What the server VAD (default threshold 0.5) takes for speech: a 20 ms frame louder than this."""
SURE_DB = 6.0
"""How far over the threshold a frame must be to be sure the server VAD hears it as speech."""
EDGE_FRAMES = 1
"""Quiet frames kept before a piece's first speech frame (its last speech frame ends it)."""
MAX_QUIET_FRAMES = 7
"""Pauses inside a piece are shrunk to 140 ms, so that the server VAD (200 ms) keeps a turn whole."""
GAP_S = 0.1
"""Zeros between the pieces of a turn; with a quiet edge frame, 120 ms without speech."""
LEAD_S = 0.5
SILENCE_AFTER_S = 1.0
TURN_MIN_S, TURN_MAX_S = 3.0, 8.0
FILE_PREFIX_S, FILE_SUFFIX_S = 0.3, 0.2
"""Around a turn's audio on the file route, as the server VAD's prefix padding and silence wrap an item."""
PHASE_SEED = 20240611
DRAIN_S = 60.0
"""How long a session waits after its last chunk for its turns' `completed`."""

JFK = "jfk_ask_not.flac"
JFK_CUT_SEARCH_S = (7.4, 8.3)
"""The pause before "ask what you can do", where the clip is cut in two."""
JFK_END_S = 10.55
"""After "country." the clip is crowd noise over the VAD's threshold: it is left out."""
JFK_TEXTS = {
    "jfk_a": "And so my fellow Americans, ask not what your country can do for you,",
    "jfk_b": "ask what you can do for your country.",
}
CLIPS = {
    "0880": "librivox_sense_and_sensibility_0880.mp3",
    "0930": "librivox_sense_and_sensibility_0930.webm",
    "cards": "pocketsphinx_cards_002.wav",
}
"""The other pieces; their references come from tests/data/manifest.jsonl."""
TURNS = (
    ("jfk_a",),
    ("0880", "0930"),
    ("cards", "jfk_b"),
    ("0930", "cards"),
    ("0880", "cards"),
    ("jfk_b", "0880"),
    ("cards", "0930", "0880"),
    ("0930", "jfk_b"),
)
MODELS = ("tiny.en", "whisper-1")
CONCURRENT_MODEL = "tiny.en"
TARGETS_P50_S = {("tiny.en", 1): 0.6, ("whisper-1", 1): 1.2, ("tiny.en", 8): 1.5}


# ---------------------------------------------------------------- turns and the streamed audio


@dataclass(frozen=True)
class Turn:
    name: str
    audio: np.ndarray
    """16 kHz mono float32; it ends with its last speech frame."""
    speech_start: int
    """The sample where its first speech frame starts."""
    reference: str

    @property
    def speech_s(self) -> float:
        return (len(self.audio) - self.speech_start) / RATE


@dataclass(frozen=True)
class Placed:
    turn: Turn
    speech_start: int
    speech_end: int
    """Samples of the 16 kHz stream; `speech_end` is one past the last speech sample."""


@dataclass(frozen=True)
class Stream:
    turns: tuple[Placed, ...]
    chunks: tuple[str, ...]
    """Base64 of 100 ms of 24 kHz 16-bit PCM each."""


def frame_levels(audio: np.ndarray) -> np.ndarray:
    usable = len(audio) // FRAME * FRAME
    frames = audio[:usable].reshape(-1, FRAME).astype(np.float64)
    return np.asarray(10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12))


def tidy(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """The piece from one quiet frame before its first speech frame to the end of its last, with pauses
    inside it shrunk to MAX_QUIET_FRAMES; and the sample where its speech starts."""
    levels = frame_levels(audio)
    # A frame near the threshold may be heard as quiet in the server's frames (they fall elsewhere):
    # such frames count as quiet in the pauses, which are shrunk, and at the start, which is trimmed.
    loud = levels > LEVEL_DB + SURE_DB
    speech = np.flatnonzero(loud)
    if not len(speech):
        raise BenchError("a piece of a turn has no speech the server VAD would hear")
    first, last = int(speech[0]), int(np.flatnonzero(levels > LEVEL_DB)[-1])
    loud[speech[-1] :] = True
    begin = max(0, first - EDGE_FRAMES)
    kept: list[int] = []
    quiet: list[int] = []
    for index in range(begin, last + 1):
        if loud[index] or index < first:
            if len(quiet) > MAX_QUIET_FRAMES:
                half = MAX_QUIET_FRAMES // 2
                quiet = quiet[:half] + quiet[len(quiet) - (MAX_QUIET_FRAMES - half) :]
            kept += quiet
            quiet = []
            kept.append(index)
        else:
            quiet.append(index)
    frames = audio[: (last + 1) * FRAME].reshape(-1, FRAME)
    return np.concatenate([frames[i] for i in kept]).astype(np.float32), (first - begin) * FRAME


def build_turns() -> list[Turn]:
    jfk = decode(AUDIO_DIR / JFK)
    low, high = (int(s * RATE) // FRAME for s in JFK_CUT_SEARCH_S)
    cut = (low + int(np.argmin(frame_levels(jfk)[low:high]))) * FRAME
    raw = {"jfk_a": jfk[:cut], "jfk_b": jfk[cut : int(JFK_END_S * RATE)]}
    references = dict(JFK_TEXTS)
    manifest = {
        row["file"]: row["reference_text"]
        for row in map(json.loads, (AUDIO_DIR / "manifest.jsonl").read_text().splitlines())
        if row
    }
    for key, name in CLIPS.items():
        raw[key] = decode(AUDIO_DIR / name)
        references[key] = manifest[name]
    pieces = {key: tidy(audio) for key, audio in raw.items()}
    turns = []
    gap = np.zeros(int(GAP_S * RATE), np.float32)
    for keys in TURNS:
        parts: list[np.ndarray] = []
        for key in keys:
            parts += [gap, pieces[key][0]] if parts else [pieces[key][0]]
        turn = Turn("+".join(keys), np.concatenate(parts), pieces[keys[0]][1], " ".join(references[k] for k in keys))
        if not TURN_MIN_S <= turn.speech_s <= TURN_MAX_S:
            raise BenchError(f"turn {turn.name} is {turn.speech_s:.2f} s of speech, not {TURN_MIN_S}-{TURN_MAX_S} s")
        turns.append(turn)
    return turns


def pcm24(audio: np.ndarray) -> bytes:
    resampled = soxr.resample(audio, RATE, PCM_RATE)
    return bytes((np.clip(resampled, -1, 1) * 32767).astype("<i2").tobytes())


def lay_out(turns: Sequence[Turn]) -> Stream:
    """Lead silence, then each turn and 1 s of silence; each turn is put off by 0-100 ms so that its
    speech ends anywhere in a chunk, as a live stream's would. Checked against the server's own turn
    detector, so that each turn is one item."""
    parts = [np.zeros(int(LEAD_S * RATE), np.float32)]
    position = len(parts[0])
    placed = []
    rng = np.random.default_rng(PHASE_SEED)
    for turn in turns:
        pad = int(rng.integers(0, CHUNK))
        after = np.zeros(int(SILENCE_AFTER_S * RATE), np.float32)
        start = position + pad
        placed.append(Placed(turn, start + turn.speech_start, start + len(turn.audio)))
        parts += [np.zeros(pad, np.float32), turn.audio, after]
        position = start + len(turn.audio) + len(after)
    audio = np.concatenate(parts)
    pcm = pcm24(audio)
    step = 2 * int(CHUNK_S * PCM_RATE)
    chunks = tuple(base64.b64encode(pcm[i : i + step]).decode() for i in range(0, len(pcm), step))
    check_turns(pcm, placed)
    return Stream(tuple(placed), chunks)


def check_turns(pcm: bytes, placed: Sequence[Placed]) -> None:
    heard = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    heard = soxr.resample(heard, PCM_RATE, RATE)
    found = TurnDetector(TurnSettings()).feed(heard)
    starts = [t.sample for t in found if t.kind == "started"]
    stops = [t.sample for t in found if t.kind == "stopped"]
    if len(starts) != len(placed) or len(stops) != len(placed):
        raise BenchError(f"the server VAD would find {len(starts)} turns in the stream, not {len(placed)}")


# ---------------------------------------------------------------- one session


@dataclass
class Item:
    id: str
    audio_start_ms: int
    started_at: float
    audio_end_ms: int | None = None
    stopped_at: float | None = None
    first_delta_at: float | None = None
    deltas: list[str] = field(default_factory=list)
    completed_at: float | None = None
    transcript: str | None = None
    failed: str | None = None

    @property
    def finished(self) -> bool:
        return self.completed_at is not None or self.failed is not None


@dataclass
class SessionLog:
    stream: Stream
    sent_at: list[float] = field(default_factory=list)
    late_s: float = 0.0
    """The most a chunk was sent after its time."""
    items: dict[str, Item] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    drained: bool = True


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://", 1) + REALTIME_PATH


async def receive(connection: Any, session: SessionLog, changed: asyncio.Event) -> None:
    async for message in connection:
        at = time.perf_counter()
        event = json.loads(message)
        kind = event["type"]
        items = session.items
        if kind == "input_audio_buffer.speech_started":
            items[event["item_id"]] = Item(event["item_id"], event["audio_start_ms"], at)
        elif kind == "input_audio_buffer.speech_stopped":
            item = items[event["item_id"]]
            item.audio_end_ms, item.stopped_at = event["audio_end_ms"], at
        elif kind == "conversation.item.input_audio_transcription.delta":
            item = items[event["item_id"]]
            item.first_delta_at = item.first_delta_at or at
            item.deltas.append(event["delta"])
        elif kind == "conversation.item.input_audio_transcription.completed":
            item = items[event["item_id"]]
            item.completed_at, item.transcript = at, event["transcript"]
        elif kind == "conversation.item.input_audio_transcription.failed":
            items[event["item_id"]].failed = json.dumps(event["error"])
        elif kind == "error":
            session.errors.append(json.dumps(event["error"]))
        changed.set()


async def expect(connection: Any, kind: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 30))
    if event["type"] != kind:
        raise BenchError(f"expected {kind}, the server sent {json.dumps(event)[:300]}")
    return event


async def run_session(url: str, model: str, stream: Stream, delay_s: float) -> SessionLog:
    await asyncio.sleep(delay_s)
    session = SessionLog(stream)
    update = {"type": "transcription", "audio": {"input": {"transcription": {"model": model}}}}
    async with websockets.asyncio.client.connect(ws_url(url), max_size=None, open_timeout=30) as connection:
        await expect(connection, "session.created")
        await connection.send(json.dumps({"type": "session.update", "session": update}))
        await expect(connection, "session.updated")
        changed = asyncio.Event()
        receiver = asyncio.create_task(receive(connection, session, changed))
        started = time.perf_counter()
        for index, chunk in enumerate(stream.chunks):
            due = started + index * CHUNK_S
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.perf_counter()
            session.late_s = max(session.late_s, now - due)
            session.sent_at.append(now)
            await connection.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        deadline = time.perf_counter() + DRAIN_S
        while not (len(session.items) >= len(stream.turns) and all(i.finished for i in session.items.values())):
            if receiver.done() or time.perf_counter() > deadline:
                session.drained = False
                break
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.01, deadline - time.perf_counter()))
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    return session


async def run_sessions(url: str, model: str, streams: Sequence[Stream], stagger_s: float) -> list[SessionLog]:
    return list(await asyncio.gather(*(run_session(url, model, s, i * stagger_s) for i, s in enumerate(streams))))


# ---------------------------------------------------------------- what a run measured


@dataclass(frozen=True)
class Heard:
    """One turn as a session heard it."""

    turn: Turn
    end_to_completed: float | None
    end_to_stopped: float | None
    stopped_to_completed: float | None
    start_to_first_delta: float | None
    first_delta_before_end: bool
    transcript: str
    items: int
    deltas: str


@dataclass
class Phase:
    model: str
    sessions: int
    heard: list[Heard]
    late_s: float
    errors: list[str]
    stray_items: int
    undrained: int
    load: tuple[float, float]
    server_cpu_s: float
    wall_s: float
    cpu_pressure: float | None
    """The share of the time some task on this machine waited for a CPU (Linux PSI), if known."""


def analyse(session: SessionLog) -> tuple[list[Heard], int]:
    """Each turn with the items that started inside it (by their audio_start_ms); and how many items
    started in none."""
    by_turn: dict[int, list[Item]] = {i: [] for i in range(len(session.stream.turns))}
    stray = 0
    for item in sorted(session.items.values(), key=lambda i: i.audio_start_ms):
        sample = item.audio_start_ms * RATE // 1000
        owner = next(
            (
                i
                for i, p in enumerate(session.stream.turns)
                if p.speech_start - RATE // 2 <= sample < p.speech_end + RATE // 2
            ),
            None,
        )
        if owner is None:
            stray += 1
        else:
            by_turn[owner].append(item)
    heard = []
    for index, placed in enumerate(session.stream.turns):
        items = by_turn[index]
        start_wall = session.sent_at[placed.speech_start // CHUNK]
        end_wall = session.sent_at[(placed.speech_end - 1) // CHUNK]
        last = items[-1] if items else None
        first_delta = next((i.first_delta_at for i in items if i.first_delta_at is not None), None)
        completed = last.completed_at if last is not None else None
        stopped = last.stopped_at if last is not None else None
        transcript = " ".join(i.transcript or "" for i in items).strip()
        deltas = "".join(d for i in items for d in i.deltas)
        heard.append(
            Heard(
                turn=placed.turn,
                end_to_completed=None if completed is None else completed - end_wall,
                end_to_stopped=None if stopped is None else stopped - end_wall,
                stopped_to_completed=None if completed is None or stopped is None else completed - stopped,
                start_to_first_delta=None if first_delta is None else first_delta - start_wall,
                first_delta_before_end=first_delta is not None and first_delta < end_wall,
                transcript=transcript,
                items=len(items),
                deltas=deltas,
            )
        )
    return heard, stray


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_stalled_s() -> float | None:
    """Seconds some task on this machine waited for a CPU so far (Linux pressure stall information)."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return float(some.rsplit("total=", 1)[1]) / 1e6


async def measure(url: str, pid: int, model: str, streams: Sequence[Stream], stagger_s: float) -> Phase:
    before = os.getloadavg()[0]
    cpu, wall, stalled = cpu_seconds(pid), time.perf_counter(), cpu_stalled_s()
    sessions = await run_sessions(url, model, streams, stagger_s)
    cpu, wall, stalled_after = cpu_seconds(pid) - cpu, time.perf_counter() - wall, cpu_stalled_s()
    pressure = None if stalled is None or stalled_after is None else (stalled_after - stalled) / wall
    heard: list[Heard] = []
    stray = 0
    for session in sessions:
        turns, strays = analyse(session)
        heard += turns
        stray += strays
    return Phase(
        model=model,
        sessions=len(streams),
        heard=heard,
        late_s=max(s.late_s for s in sessions),
        errors=[e for s in sessions for e in s.errors]
        + [f"{i.id}: {i.failed}" for s in sessions for i in s.items.values() if i.failed],
        stray_items=stray,
        undrained=sum(not s.drained for s in sessions),
        load=(before, os.getloadavg()[0]),
        server_cpu_s=cpu,
        wall_s=wall,
        cpu_pressure=pressure,
    )


# ---------------------------------------------------------------- the file route


@dataclass(frozen=True)
class FileResult:
    text: str
    seconds: float
    server_cpu_s: float


def wav24(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(PCM_RATE)
        writer.writeframes(pcm24(audio))
    return out.getvalue()


def file_audio(turn: Turn) -> np.ndarray:
    """The turn as an item holds it: the VAD's prefix before its speech, its silence after."""
    before = np.zeros(max(0, int(FILE_PREFIX_S * RATE) - turn.speech_start), np.float32)
    return np.concatenate([before, turn.audio, np.zeros(int(FILE_SUFFIX_S * RATE), np.float32)])


def transcribe_file(client: httpx.Client, pid: int, model: str, turn: Turn) -> FileResult:
    files = {"file": (f"{turn.name}.wav", wav24(file_audio(turn)), "audio/wav")}
    cpu, started = cpu_seconds(pid), time.perf_counter()
    response = client.post(TRANSCRIBE_PATH, data={"model": model}, files=files)
    expect_ok(response)
    seconds = time.perf_counter() - started
    return FileResult(response.json()["data"]["text"], seconds, cpu_seconds(pid) - cpu)


# ---------------------------------------------------------------- the report


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def seconds(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}"


def corpus_wer(pairs: Sequence[tuple[str, str]]) -> float:
    """Word errors over reference words, across all pairs."""
    words = sum(len(normalise(ref)) for ref, _ in pairs)
    errors = sum(wer(ref, hyp) * len(normalise(ref)) for ref, hyp in pairs)
    return errors / words if words else 0.0


def latency_rows(phases: Sequence[Phase], files: dict[tuple[str, str], FileResult]) -> list[str]:
    lines = [
        "end of speech -> completed, and where it goes; start of speech -> first delta (seconds)",
        f"{'model':10} {'sess':>4} {'turns':>5}   {'p50':>6} {'p95':>6}  {'target p50':>12}    "
        f"{'end->stopped':>12} {'stopped->done':>13} {'file route':>10}   {'1st delta p50':>13} {'p95':>6} "
        f"{'live':>5}",
    ]
    for phase in phases:
        done = [h.end_to_completed for h in phase.heard if h.end_to_completed is not None]
        stops = [h.end_to_stopped for h in phase.heard if h.end_to_stopped is not None]
        after = [h.stopped_to_completed for h in phase.heard if h.stopped_to_completed is not None]
        first = [h.start_to_first_delta for h in phase.heard if h.start_to_first_delta is not None]
        file_s = [files[(phase.model, h.turn.name)].seconds for h in phase.heard if (phase.model, h.turn.name) in files]
        live = sum(h.first_delta_before_end for h in phase.heard)
        p50 = percentile(done, 50)
        limit = TARGETS_P50_S.get((phase.model, phase.sessions))
        target = "" if limit is None else f"<= {limit:.1f} {'met' if p50 is not None and p50 <= limit else 'MISSED'}"
        lines.append(
            f"{phase.model:10} {phase.sessions:>4} {len(done):>5}   {seconds(p50)} {seconds(percentile(done, 95))}  "
            f"{target:>12}    {seconds(percentile(stops, 50)):>12} {seconds(percentile(after, 50)):>13} "
            f"{seconds(percentile(file_s, 50)):>10}   {seconds(percentile(first, 50)):>13} "
            f"{seconds(percentile(first, 95))} {live:>2}/{len(phase.heard):<2}"
        )
    lines += [
        "  p50/p95: end of speech (the send of the chunk with its last speech sample) -> `completed` arrives",
        "  end->stopped, stopped->done: medians of the two parts (VAD silence + transport; the final reading)",
        "  file route: median time of POSTing the same turn (as WAV) to the file route, server otherwise idle",
        "  1st delta: start of speech (the send of the chunk with its first speech sample) -> the first delta",
        "  live: turns whose first delta came before the end of speech",
    ]
    return lines


def wer_rows(phases: Sequence[Phase], files: dict[tuple[str, str], FileResult]) -> list[str]:
    lines = [
        "WER against the references, realtime vs the file route on the same turn audio",
        f"{'model':10} {'sess':>4} {'turns':>5}  {'realtime':>8}  {'file':>6}  {'diff':>9}  "
        f"{'realtime!=file':>14}  {'deltas!=final':>13}",
    ]
    for phase in phases:
        heard = [h for h in phase.heard if (phase.model, h.turn.name) in files]
        live = corpus_wer([(h.turn.reference, h.transcript) for h in heard])
        offline = corpus_wer([(h.turn.reference, files[(phase.model, h.turn.name)].text) for h in heard])
        differ = sum(normalise(h.transcript) != normalise(files[(phase.model, h.turn.name)].text) for h in heard)
        mismatched = sum(normalise(h.deltas) != normalise(h.transcript) for h in heard)
        lines.append(
            f"{phase.model:10} {phase.sessions:>4} {len(heard):>5}  {100 * live:7.1f}%  {100 * offline:5.1f}%  "
            f"{100 * (live - offline):+5.1f} pts  {differ:>8}/{len(heard):<5}  {mismatched:>7}/{len(heard):<5}"
        )
    return lines


def difference_rows(phases: Sequence[Phase], files: dict[tuple[str, str], FileResult], limit: int = 8) -> list[str]:
    seen: set[tuple[str, str, str]] = set()
    lines = []
    for phase in phases:
        for h in phase.heard:
            reference = files.get((phase.model, h.turn.name))
            key = (phase.model, h.turn.name, h.transcript)
            if reference is None or normalise(h.transcript) == normalise(reference.text) or key in seen:
                continue
            seen.add(key)
            lines += [
                f"  {phase.model} x{phase.sessions} {h.turn.name}:",
                f"    realtime: {h.transcript!r}",
                f"    file    : {reference.text!r}",
            ]
    if not lines:
        return ["realtime and file route transcripts agree on every turn"]
    shown = lines[: 3 * limit]
    more = (len(lines) - len(shown)) // 3
    return ["turns whose realtime transcript differs from the file route's:", *shown] + (
        [f"  ... and {more} more"] if more else []
    )


def delta_rows(phases: Sequence[Phase], limit: int = 4) -> list[str]:
    lines: list[str] = []
    for phase in phases:
        for h in phase.heard:
            if normalise(h.deltas) != normalise(h.transcript) and len(lines) < 3 * limit:
                lines += [
                    f"  {phase.model} x{phase.sessions} {h.turn.name}:",
                    f"    deltas   : {h.deltas!r}",
                    f"    completed: {h.transcript!r}",
                ]
    if not lines:
        return ["the deltas of every turn add up to its `completed` transcript"]
    return ["turns whose deltas do not add up to their `completed` transcript (first few):", *lines]


def cpu_rows(phases: Sequence[Phase], files: dict[tuple[str, str], FileResult]) -> list[str]:
    lines = [
        "the server's CPU time (all threads), per turn heard live and per turn on the file route",
        f"{'model':10} {'sess':>4}  {'live/turn':>9}  {'file/turn':>9}  {'ratio':>6}  {'cores busy':>10}",
    ]
    cores = os.cpu_count() or 1
    for phase in phases:
        live = phase.server_cpu_s / max(1, len(phase.heard))
        file_cpu = [r.server_cpu_s for (model, _), r in files.items() if model == phase.model]
        offline = statistics.mean(file_cpu) if file_cpu else None
        ratio = f"{live / offline:5.1f}x" if offline else "    - "
        lines.append(
            f"{phase.model:10} {phase.sessions:>4}  {live:8.2f}s  {seconds(offline):>8}s  {ratio:>6}  "
            f"{phase.server_cpu_s / phase.wall_s:5.2f} of {cores}"
        )
    return lines


def health_rows(phases: Sequence[Phase]) -> list[str]:
    lines = []
    for phase in phases:
        split = sum(h.items > 1 for h in phase.heard)
        missing = sum(h.end_to_completed is None for h in phase.heard)
        lines.append(
            f"{phase.model} x{phase.sessions}: split turns {split}, turns without `completed` {missing}, "
            f"stray items {phase.stray_items}, sessions not drained {phase.undrained}, errors {len(phase.errors)}, "
            f"client send lag max {1000 * phase.late_s:.0f} ms, load average {phase.load[0]:.1f} -> {phase.load[1]:.1f}"
            + ("" if phase.cpu_pressure is None else f", CPU pressure {100 * phase.cpu_pressure:.0f}%")
        )
        lines += [f"  error: {e[:200]}" for e in phase.errors[:5]]
    return lines


def log_problems(path: Path) -> list[str]:
    markers = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    return [line for line in path.read_text(errors="replace").splitlines() if any(m in line for m in markers)]


def summary(phases: Sequence[Phase], files: dict[tuple[str, str], FileResult]) -> dict[str, Any]:
    rows = []
    for phase in phases:
        done = [h.end_to_completed for h in phase.heard if h.end_to_completed is not None]
        first = [h.start_to_first_delta for h in phase.heard if h.start_to_first_delta is not None]
        heard = [h for h in phase.heard if (phase.model, h.turn.name) in files]
        rows.append(
            {
                "model": phase.model,
                "sessions": phase.sessions,
                "turns": len(phase.heard),
                "end_to_completed_p50_s": percentile(done, 50),
                "end_to_completed_p95_s": percentile(done, 95),
                "target_p50_s": TARGETS_P50_S.get((phase.model, phase.sessions)),
                "first_delta_p50_s": percentile(first, 50),
                "first_delta_p95_s": percentile(first, 95),
                "wer_realtime": corpus_wer([(h.turn.reference, h.transcript) for h in heard]),
                "wer_file": corpus_wer([(h.turn.reference, files[(phase.model, h.turn.name)].text) for h in heard]),
                "server_cpu_s_per_turn": phase.server_cpu_s / max(1, len(phase.heard)),
                "cpu_pressure": phase.cpu_pressure,
            }
        )
    return {"phases": rows}


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


# ---------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="models for one session each")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 8 turns in one session (default 2)")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions on tiny.en (0: none)")
    parser.add_argument("--concurrent-model", default=CONCURRENT_MODEL)
    parser.add_argument("--stagger", type=float, default=0.7, help="seconds between concurrent sessions' starts")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.sessions < 0:
        parser.error("--rounds must be at least 1 and --sessions at least 0")
    return args


def warm_up(client: httpx.Client, pid: int, models: Sequence[str], turns: Sequence[Turn]) -> None:
    """Load the models and pay first inferences' one-off costs outside the numbers."""
    for model in models:
        for turn in (turns[0], turns[-1]):
            transcribe_file(client, pid, model, turn)


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Phase], dict[tuple[str, str], FileResult], int]:
    turns = build_turns()
    log(
        f"{len(turns)} turns of {min(t.speech_s for t in turns):.1f}-{max(t.speech_s for t in turns):.1f} s "
        f"of speech ({sum(t.speech_s for t in turns):.0f} s in all)"
    )
    single = lay_out(turns * args.rounds)
    rotated = [lay_out(turns[i % len(turns) :] + turns[: i % len(turns)]) for i in range(args.sessions)]
    models = list(dict.fromkeys([*args.models, *([args.concurrent_model] if args.sessions else [])]))
    phases: list[Phase] = []
    files: dict[tuple[str, str], FileResult] = {}
    log("starting the server")
    with running_server(workdir) as server, http_client(server.url) as client:
        log("warming up")
        pid = server.process.pid
        warm_up(client, pid, models, turns)
        for model in args.models:
            log(f"{model}: 1 session, {len(single.turns)} turns, {len(single.chunks) * CHUNK_S:.0f} s in real time")
            phases.append(asyncio.run(measure(server.url, pid, model, [single], 0.0)))
        if args.sessions:
            seconds_each = len(rotated[0].chunks) * CHUNK_S
            log(f"{args.concurrent_model}: {args.sessions} sessions, {seconds_each:.0f} s each in real time")
            phases.append(asyncio.run(measure(server.url, pid, args.concurrent_model, rotated, args.stagger)))
        for model in models:
            log(f"{model}: the file route on the same turns")
            for turn in turns:
                time.sleep(0.2)
                files[(model, turn.name)] = transcribe_file(client, pid, model, turn)
    problems = [line for path in sorted(workdir.glob("server-*.log")) for line in log_problems(path)]
    return phases, files, len(problems)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="audio-bench-realtime-") as tmp:
            phases, files, problems = run(args, Path(tmp))
    except (BenchError, httpx.HTTPError, OSError, websockets.exceptions.WebSocketException) as exc:
        print(f"benchmark failed: {exc!r}", file=sys.stderr)
        return 1
    settings = TurnSettings()
    print(
        f"realtime transcription, {CHUNK_S * 1000:.0f} ms chunks of 24 kHz PCM in real time; server VAD threshold "
        f"{settings.threshold} ({settings.level_db:.0f} dBFS), prefix {settings.prefix_padding_ms} ms, "
        f"silence {settings.silence_duration_ms} ms"
    )
    turns = sorted({h.turn.name: h.turn for p in phases for h in p.heard}.values(), key=lambda t: t.name)
    print(
        f"turns: {len(turns)} distinct, {min(t.speech_s for t in turns):.1f}-{max(t.speech_s for t in turns):.1f} s "
        f"of speech (median {statistics.median(t.speech_s for t in turns):.1f} s), each then {SILENCE_AFTER_S:.0f} s "
        f"of silence; 1 session: {args.rounds} pass(es); {args.sessions} sessions: 1 pass each, started "
        f"{args.stagger} s apart; {os.cpu_count()} CPUs\n"
    )
    blocks = (
        latency_rows(phases, files),
        cpu_rows(phases, files),
        wer_rows(phases, files),
        difference_rows(phases, files),
        delta_rows(phases),
    )
    for block in blocks:
        print("\n".join(block) + "\n")
    print("\n".join(health_rows(phases)))
    print(f"server log: {problems} warning/error lines")
    print(f"elapsed {time.perf_counter() - started:.0f} s\n")
    print(json.dumps(rounded(summary(phases, files)), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
