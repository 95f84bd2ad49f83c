"""Where the speech is, how it is packed into Whisper's 30-second chunks, and how times in a
decoded chunk map back to the original audio."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
from faster_whisper.transcribe import Segment as FwSegment
from faster_whisper.transcribe import Word as FwWord
from faster_whisper.vad import VadOptions, get_speech_timestamps

from engines.audio.decode import WHISPER_RATE
from engines.whisper.batching import ChunkResult

WINDOW_SECONDS = 300.0
"""Sequential decoding and VAD take long audio this many seconds at a time."""
CHUNK_SECONDS = 30.0
"""Whisper's input: batched decoding packs up to this much speech into each chunk."""


def speech_regions(audio: np.ndarray, max_speech_s: float | None = None) -> list[tuple[float, float]]:
    """Seconds of the audio where Silero VAD hears speech (padded, as faster-whisper pads them).

    With `max_speech_s`, regions are cut at the shortest pauses (160 ms, as faster-whisper's
    batched mode does) and none is longer. The VAD copies its whole input a few times over, so
    long audio goes through it a window at a time; regions that the window edges split are
    joined again where they fit.
    """
    vad = (
        VadOptions()
        if max_speech_s is None
        else VadOptions(max_speech_duration_s=max_speech_s, min_silence_duration_ms=160)
    )
    longest = max_speech_s or float("inf")
    step = int(WINDOW_SECONDS * WHISPER_RATE)
    regions: list[tuple[float, float]] = []
    for offset in range(0, len(audio), step):
        for r in get_speech_timestamps(audio[offset : offset + step], vad):
            start, end = (offset + r["start"]) / WHISPER_RATE, (offset + r["end"]) / WHISPER_RATE
            if regions and start - regions[-1][1] < 0.1 and end - regions[-1][0] <= longest:
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
    return regions


def chunks_of(speech: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Speech regions packed, in order, into chunks of at most CHUNK_SECONDS of speech each."""
    chunks: list[list[tuple[float, float]]] = []
    length = 0.0
    for start, end in speech:
        if not chunks or length + (end - start) > CHUNK_SECONDS:
            chunks.append([])
            length = 0.0
        chunks[-1].append((start, end))
        length += end - start
    return chunks


class Timeline:
    """Maps a time in a chunk (its speech pieces laid end to end) back to the original audio."""

    def __init__(self, pieces: list[tuple[float, float]]) -> None:
        self.starts = [start for start, _ in pieces]
        lengths = [(int(end * WHISPER_RATE) - int(start * WHISPER_RATE)) / WHISPER_RATE for start, end in pieces]
        self.local_starts = [0.0, *itertools.accumulate(lengths)][:-1]
        self.local_ends = list(itertools.accumulate(lengths))

    def piece(self, t: float, is_end: bool = False) -> int:
        index = bisect.bisect_left(self.local_ends, t) if is_end else bisect.bisect_right(self.local_ends, t)
        return min(index, len(self.starts) - 1)

    def original(self, t: float, piece: int) -> float:
        return round(self.starts[piece] + t - self.local_starts[piece], 3)


def restored(
    result: ChunkResult, pieces: list[tuple[float, float]], encode: Callable[[str], list[int]]
) -> Iterator[FwSegment]:
    """A decoded chunk as segments in the original audio's time: one per sentence where its
    words were timed, else one for the whole chunk (and one for the reading of its rest, where
    its words stopped early: see `coverage`)."""
    timeline = Timeline(pieces)
    for segment in result.segments:
        attempt = segment.get("attempt", result.attempt)  # a second reading's own, for the noise guard
        words = [
            FwWord(
                start=timeline.original(w["start"], piece),
                end=timeline.original(w["end"], piece),
                word=w["word"],
                probability=w["probability"],
            )
            for w in segment.get("words") or ()
            for piece in [timeline.piece((w["start"] + w["end"]) / 2)]
        ]
        spans: list[tuple[float, float, list[FwWord] | None]]
        if words:
            spans = [(sentence[0].start, sentence[-1].end, sentence) for sentence in sentences_of(words)]
        else:
            start = timeline.original(segment["start"], timeline.piece(segment["start"]))
            end = timeline.original(segment["end"], timeline.piece(segment["end"], is_end=True))
            spans = [(start, end, None)]
        for start, end, sentence in spans:
            text = segment["text"] if sentence is None else "".join(w.word for w in sentence)
            yield FwSegment(
                id=0,
                seek=int(pieces[0][0] * 100),
                start=start,
                end=max(start, end),
                text=text,
                tokens=list(segment["tokens"]) if sentence is None else encode(text),
                avg_logprob=attempt.avg_logprob,
                # The whole chunk's ratio, as Whisper reports its window's for each segment: a
                # loop shows in the chunk's text even where each segment of it is short.
                compression_ratio=attempt.compression_ratio,
                no_speech_prob=attempt.no_speech_prob,
                words=sentence,
                temperature=attempt.temperature,
            )


_SENTENCE_END = re.compile(r"[.!?。！？…]$")
SENTENCE_PAUSE_S = 1.0


def sentences_of(words: list[FwWord]) -> list[list[FwWord]]:
    """Words grouped into sentences: cut after a full stop, or at a pause of a second or more."""
    sentences: list[list[FwWord]] = [[]]
    for word, following in itertools.zip_longest(words, words[1:]):
        sentences[-1].append(word)
        ends = _SENTENCE_END.search(word.word.strip()) is not None
        if following is not None and (ends or following.start - word.end >= SENTENCE_PAUSE_S):
            sentences.append([])
    return sentences


def windows(duration: float, speech: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cut `duration` seconds into windows of at most ~WINDOW_SECONDS, at pauses between speech."""
    cuts = [0.0]
    pauses = [(a_end + b_start) / 2 for (_, a_end), (b_start, _) in itertools.pairwise(speech)]
    while duration - cuts[-1] > WINDOW_SECONDS * 1.2:
        target = cuts[-1] + WINDOW_SECONDS
        near = [p for p in pauses if cuts[-1] + WINDOW_SECONDS / 2 < p <= target]
        cuts.append(max(near) if near else target)
    return list(itertools.pairwise([*cuts, duration]))


def shifted(segment: FwSegment, offset: float) -> FwSegment:
    if not offset:
        return segment
    words = [replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words or []]
    return replace(
        segment,
        start=segment.start + offset,
        end=segment.end + offset,
        seek=segment.seek + int(offset * 100),
        words=words or segment.words,
    )
