"""Who spoke when, measured on real meetings and on conversations of real speakers: the diarizer's error,
speaker counts, known speakers' names, and what it costs next to transcribing the same audio.

Recordings:

- `ami_*`: the AMI excerpts in tests/data/diarization (2-4 speakers, 30-60 s, overlapping speech, with
  reference RTTM; see tests/data/README.md);
- `conv_*`: conversations built here from real single-speaker speech: the test clips (tests/data) and each
  AMI speaker's stretches of speech alone (so also several people in one room), in turns of 2-8 s (1.5-4 s
  in `quick`) with pauses of 0.2-0.8 s. Each source is cut into pieces where the segmentation model, run on
  the source alone, hears speech (pauses under 0.3 s kept, stretches over 4 s cut at their quietest
  frame); the reference is those pieces, so a pause inside a turn is no one's speech. `minor` has one
  speaker with about a tenth of the turns;
- `spec_*`: the conversations of tests/conversations.py, whose reference turns run from a turn's first word
  to its last.

For each one it prints:

- DER with no collar and with a 0.25 s collar (NIST's: ±0.25 s around each reference boundary not scored),
  overlapped speech scored, by tests/der.py;
- the speakers found against the reference's (and against those with at least 2 s of speech: AMI's
  references count one-word interjections as speakers);
- known speakers: each reference speaker's longest stretch of speech alone (2-10 s of it) is given as a
  known speaker's clip, the recording is diarized again, and the share of the other speech time (where one
  person speaks, outside the clips, and the diarizer hears speech) that carries the right name is counted;
- cost: the diarizer's time, and (for the AMI excerpts, or all with --cost-all) whisper-1's transcribing
  the same audio with word timings (what a diarized request does), in this process.

.venv/bin/python scripts/bench/diarization.py [--model whisper-1] [--rounds 1] [--cost-all] [--only ami]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# As in the server (engines/__init__.py): numpy's BLAS on one thread, set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conversations  # noqa: E402
from der import Turn, der, parse_rttm  # noqa: E402

from engines.audio.decode import WHISPER_RATE, decode  # noqa: E402
from engines.base import DiarizationOptions, KnownSpeaker, Transcriber, TranscriptionOptions  # noqa: E402
from engines.diarize.pipeline import SpeakerDiarizer  # noqa: E402
from engines.loader import ModelFiles, ModelLoader  # noqa: E402
from engines.models.registry_files import load_registry  # noqa: E402
from server.config import Settings  # noqa: E402

DATA = ROOT / "tests" / "data"
AMI = DATA / "diarization"
FRAME = 0.01
PIECE_GAP_S = 0.2
"""Between two pieces of one turn."""
CLIP_SPEAKERS = {
    "kennedy": ("jfk_ask_not.flac",),
    "austen_reader": ("librivox_sense_and_sensibility_0880.mp3", "librivox_sense_and_sensibility_0930.webm"),
    "cards_speaker": ("pocketsphinx_cards_002.wav",),
    "ljspeech": ("ljspeech_lj050_0131.flac",),
    "french_reader": ("picovoice_fr.wav",),
    "german_reader": ("librivox_de_simplicissimus_title.mp3",),
}


@dataclass(frozen=True)
class Plan:
    """A conversation to build: who takes part, how many turns, and how long a turn lasts."""

    speakers: tuple[str, ...]
    turns: int
    seed: int
    turn_s: tuple[float, float] = (2.0, 8.0)
    minor: bool = False
    """The last speaker takes about a tenth of the turns."""


PLANS = {
    "conv_clips_2": Plan(("kennedy", "german_reader"), 10, 1),
    "conv_clips_3": Plan(("ljspeech", "french_reader", "german_reader"), 14, 2),
    "conv_clips_4": Plan(("kennedy", "austen_reader", "ljspeech", "german_reader"), 16, 3),
    "conv_clips_3_quick": Plan(("cards_speaker", "french_reader", "austen_reader"), 14, 4, turn_s=(1.5, 4.0)),
    "conv_clips_3_minor": Plan(("kennedy", "german_reader", "french_reader"), 14, 5, minor=True),
    "conv_room_2_women": Plan(("FEE013", "FEE016"), 10, 6),
    "conv_room_2_men": Plan(("MEE009", "MEE012"), 8, 7),
    "conv_room_3": Plan(("FEE013", "FEE016", "MEO015"), 14, 8),
    "conv_rooms_4": Plan(("MEE009", "FEE016", "MEE075", "FEO072"), 16, 9),
    "conv_mixed_3_minor": Plan(("FEE016", "german_reader", "MEE075"), 14, 10, minor=True),
}


@dataclass(frozen=True)
class Recording:
    name: str
    audio: np.ndarray
    reference: list[Turn]


def ami_recordings() -> Iterator[Recording]:
    for line in (AMI / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            reference = parse_rttm((AMI / item["rttm"]).read_text())
            yield Recording(f"ami_{item['file'].split('_')[1]}", decode(AMI / item["file"]), reference)


def spec_recordings() -> Iterator[Recording]:
    for name in conversations.SPECS:
        built = conversations.conversation(name)
        yield Recording(f"spec_{name}", built.audio16k, [Turn(t.start, t.end, t.speaker) for t in built.turns])


def built_recordings(diarizer: SpeakerDiarizer) -> Iterator[Recording]:
    pieces = {name: _pieces(diarizer, [decode(DATA / f) for f in files]) for name, files in CLIP_SPEAKERS.items()}
    for recording in ami_recordings():
        for speaker, spans in _alone_stretches(recording.reference, len(recording.audio) / WHISPER_RATE).items():
            audio = [recording.audio[int(a * WHISPER_RATE) : int(b * WHISPER_RATE)] for a, b in spans]
            pieces[speaker] = _pieces(diarizer, audio)
    for name, plan in PLANS.items():
        yield _built(name, plan, pieces)


def _pieces(diarizer: SpeakerDiarizer, sources: list[np.ndarray]) -> list[np.ndarray]:
    """Each source's speech as the segmentation model hears it alone, in pieces of at most 4 s."""
    result = []
    for audio in sources:
        frames = diarizer.segmentation.run(audio)
        mask = np.concatenate([[False], frames.speech > 0.5, [False]])
        edges = np.flatnonzero(np.diff(mask.astype(np.int8))) * frames.frame_s
        runs: list[list[float]] = []
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if runs and a - runs[-1][1] < 0.3:
                runs[-1][1] = b
            else:
                runs.append([a, b])
        hop = WHISPER_RATE // 100
        level = np.log10(np.mean(audio[: len(audio) // hop * hop].reshape(-1, hop) ** 2, axis=1) + 1e-12)
        for a, b in runs:
            start, end = int(a * 100), min(len(level), int(b * 100))
            while end - start > 400:
                quiet = np.convolve(level[start + 150 : start + 400], np.ones(5) / 5, mode="same")
                cut = start + 150 + int(np.argmin(quiet))
                result.append(audio[start * hop : cut * hop])
                start = cut
            if end - start >= 30:
                result.append(audio[start * hop : end * hop])
    return result


def _built(name: str, plan: Plan, pieces: dict[str, list[np.ndarray]]) -> Recording:
    rng = np.random.default_rng(plan.seed)
    weights = np.array([0.15 if plan.minor and s == plan.speakers[-1] else 1.0 for s in plan.speakers])
    taken = dict.fromkeys(plan.speakers, 0)
    audio = [np.zeros(WHISPER_RATE // 2, np.float32)]
    reference: list[Turn] = []
    at, previous = len(audio[0]), ""
    for _ in range(plan.turns):
        others = [i for i, s in enumerate(plan.speakers) if s != previous]
        speaker = plan.speakers[rng.choice(others, p=weights[others] / weights[others].sum())]
        length, spoken = rng.uniform(*plan.turn_s), 0.0
        while spoken < length:
            if spoken:
                audio.append(np.zeros(int(PIECE_GAP_S * WHISPER_RATE), np.float32))
                at += len(audio[-1])
            piece = pieces[speaker][taken[speaker] % len(pieces[speaker])]
            taken[speaker] += 1
            reference.append(Turn(at / WHISPER_RATE, (at + len(piece)) / WHISPER_RATE, speaker))
            audio.append(piece.astype(np.float32))
            at += len(piece)
            spoken += len(piece) / WHISPER_RATE
        audio.append(np.zeros(int(rng.uniform(0.2, 0.8) * WHISPER_RATE), np.float32))
        at += len(audio[-1])
        previous = speaker
    audio.append(np.zeros(WHISPER_RATE // 2, np.float32))
    return Recording(name, np.concatenate(audio), reference)


def _alone(reference: list[Turn], duration: float) -> tuple[list[str], np.ndarray]:
    """The speakers, and per 10 ms frame the index of the one talking (-1 for nobody or several)."""
    names = sorted({t.speaker for t in reference})
    count = np.zeros(int(duration / FRAME) + 1, dtype=np.int64)
    who = np.full(len(count), -1)
    for turn in reference:
        a, b = int(turn.start / FRAME), int(turn.end / FRAME)
        count[a:b] += 1
        who[a:b] = names.index(turn.speaker)
    who[count != 1] = -1
    return names, who


def _alone_stretches(
    reference: list[Turn], duration: float, shortest: float = 1.0
) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's stretches of speech alone, of `shortest` seconds or more."""
    names, who = _alone(reference, duration)
    found: dict[str, list[tuple[float, float]]] = {}
    for index, name in enumerate(names):
        edges = np.flatnonzero(np.diff(np.concatenate([[False], who == index, [False]]).astype(np.int8)))
        runs = [(a * FRAME, b * FRAME) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        found[name] = [(a, b) for a, b in runs if b - a >= shortest]
    return found


def clips(reference: list[Turn], duration: float) -> dict[str, tuple[float, float]]:
    """Each speaker's longest stretch of speech alone, cut to at most 10 s; speakers with under 2 s left out."""
    found = {}
    for name, runs in _alone_stretches(reference, duration, shortest=2.0).items():
        if runs:
            start, end = max(runs, key=lambda r: r[1] - r[0])
            found[name] = (start, min(end, start + 10.0))
    return found


def named_share(
    reference: list[Turn], hypothesis: list[Turn], spans: dict[str, tuple[float, float]], duration: float
) -> float:
    """Of the time where one known speaker talks alone, outside the clips, and the diarizer hears someone, the
    share labelled with their name (speech it misses is the error's, not the naming's)."""
    names, who = _alone(reference, duration)
    said = np.zeros((len(who), len(names) + 1), dtype=bool)
    for turn in hypothesis:
        column = names.index(turn.speaker) if turn.speaker in names else len(names)
        said[int(turn.start / FRAME) : int(turn.end / FRAME), column] = True
    times = np.arange(len(who)) * FRAME
    counted = said.any(axis=1)
    for index, name in enumerate(names):
        a, b = spans.get(name, (0.0, duration + 1))
        counted &= (who != index) | ((times < a) | (times >= b))
    counted &= np.isin(who, [names.index(name) for name in spans])
    if not counted.any():
        return float("nan")
    return float(said[np.flatnonzero(counted), who[counted]].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-1")
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each (the fastest counts)")
    parser.add_argument("--cost-all", action="store_true", help="time whisper on every recording, not just AMI's")
    parser.add_argument("--only", choices=("ami", "conv", "spec"), help="one kind of recording")
    args = parser.parse_args()

    settings = Settings.from_env()
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    loader = ModelLoader(registry, ModelFiles(settings.cache_dir))
    entry = registry.resolve(args.model)
    if entry is None:
        raise SystemExit(f"{args.model} is not in the registry")
    transcriber = loader.transcriber(entry)
    diarizer = loader.diarizer(next(e for e in registry.models.values() if e.task == "diarization"))
    if not isinstance(diarizer, SpeakerDiarizer):
        raise SystemExit("this benchmark builds its conversations with SpeakerDiarizer's segmentation")

    kinds = {"ami": ami_recordings, "conv": lambda: built_recordings(diarizer), "spec": spec_recordings}
    chosen = [kinds[args.only]] if args.only else list(kinds.values())
    rows: list[dict[str, Any]] = []
    for recording in itertools.chain.from_iterable(make() for make in chosen):
        row = measure(recording, diarizer, transcriber, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps(summary(rows)))


def measure(
    recording: Recording, diarizer: SpeakerDiarizer, transcriber: Transcriber, args: argparse.Namespace
) -> dict[str, Any]:
    audio, reference = recording.audio, recording.reference
    duration = len(audio) / WHISPER_RATE
    diarize_s = transcribe_s = float("inf")
    timed = args.cost_all or recording.name.startswith("ami_")
    for _ in range(args.rounds):
        started = time.perf_counter()
        found = diarizer.diarize(audio, DiarizationOptions())
        diarize_s = min(diarize_s, time.perf_counter() - started)
        if timed:
            started = time.perf_counter()
            _, segments = transcriber.stream(audio, TranscriptionOptions(language="en", word_timestamps=True))
            list(segments)
            transcribe_s = min(transcribe_s, time.perf_counter() - started)
    hypothesis = [Turn(t.start, t.end, t.speaker) for t in found.turns]
    spans = clips(reference, duration)
    known = tuple(
        KnownSpeaker(name, diarizer.voiceprint(audio[int(a * WHISPER_RATE) : int(b * WHISPER_RATE)]))
        for name, (a, b) in spans.items()
    )
    named = [Turn(t.start, t.end, t.speaker) for t in diarizer.diarize(audio, DiarizationOptions(known=known)).turns]
    speaking = dict.fromkeys((t.speaker for t in reference), 0.0)
    for t in reference:
        speaking[t.speaker] += t.duration
    return {
        "recording": recording.name,
        "duration_s": round(duration, 1),
        "der": round(der(reference, hypothesis).der, 4),
        "der_collar_0.25": round(der(reference, hypothesis, collar=0.25).der, 4),
        "speakers_reference": len(speaking),
        "speakers_reference_2s": sum(1 for s in speaking.values() if s >= 2.0),
        "speakers_found": len({t.speaker for t in hypothesis}),
        "known_named_share": round(named_share(reference, named, spans, duration), 4),
        "diarize_s": round(diarize_s, 3),
        "transcribe_s": round(transcribe_s, 3) if timed else None,
        "cost_share": round(diarize_s / transcribe_s, 4) if timed else None,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str, kind: str) -> float:
        values = [r[key] for r in rows if r["recording"].startswith(kind)]
        return round(float(np.nanmean(values)), 4) if values else float("nan")

    right = sum(r["speakers_found"] in (r["speakers_reference"], r["speakers_reference_2s"]) for r in rows)
    timed = [r for r in rows if r["cost_share"] is not None]
    result: dict[str, Any] = {"recordings": len(rows), "speaker_count_right": f"{right}/{len(rows)}"}
    for kind in ("ami", "conv", "spec"):
        result[f"{kind}_der_mean"] = mean("der", kind)
        result[f"{kind}_der_collar_mean"] = mean("der_collar_0.25", kind)
    result["known_named_share_mean"] = round(float(np.nanmean([r["known_named_share"] for r in rows])), 4)
    if timed:
        diarizing, transcribing = sum(r["diarize_s"] for r in timed), sum(r["transcribe_s"] for r in timed)
        result["cost_share_total"] = round(diarizing / transcribing, 4)
    return result


if __name__ == "__main__":
    main()
