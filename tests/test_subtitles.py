"""Subtitle cues: split at word boundaries into two short lines and a few seconds."""

from __future__ import annotations

import itertools

from engines.base import Segment, Word
from server.subtitles import LINE_CHARS, cues, srt, vtt


def segment(text: str, start: float, end: float, with_words: bool = True) -> Segment:
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = tuple(
        Word(start=start + i * step, end=start + (i + 1) * step, word=" " + t, probability=0.9)
        for i, t in enumerate(tokens)
    )
    return Segment(
        id=0,
        seek=0,
        start=start,
        end=end,
        text=" " + text,
        tokens=(),
        temperature=0.0,
        avg_logprob=-0.2,
        compression_ratio=1.2,
        no_speech_prob=0.01,
        words=words if with_words else (),
    )


LONG = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the families."
)


def test_a_30_second_segment_becomes_readable_cues() -> None:
    result = cues([segment(LONG, 0.0, 30.0)])
    assert len(result) >= 5
    for cue in result:
        lines = cue.text.split("\n")
        assert len(lines) <= 2
        assert all(len(line) <= LINE_CHARS for line in lines)
        assert cue.end - cue.start <= 6.0 + 1e-6
    assert " ".join(" ".join(c.text.split()) for c in result) == LONG
    assert result[0].start == 0.0 and abs(result[-1].end - 30.0) < 1e-6


def test_cues_prefer_clause_breaks() -> None:
    result = cues([segment(LONG, 0.0, 30.0)])
    assert sum(c.text.rstrip().endswith((",", ".")) for c in result) >= len(result) // 2


def test_without_word_timings_time_is_shared_by_length() -> None:
    result = cues([segment(LONG, 10.0, 40.0, with_words=False)])
    assert len(result) >= 5 and result[0].start == 10.0
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(result))


def test_srt_and_vtt_rendering() -> None:
    segments = [segment("Hello there.", 0.0, 1.5), segment("General Kenobi.", 3601.25, 3602.5)]
    assert srt(segments) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:00:01,250 --> 01:00:02,500\nGeneral Kenobi.\n"
    )
    assert vtt(segments).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")


def test_two_lines_are_balanced() -> None:
    result = cues([segment("one two three four five six seven eight nine ten eleven twelve thirteen", 0, 5)])
    assert len(result) == 1
    first, second = result[0].text.split("\n")
    assert abs(len(first) - len(second)) <= 8
