"""Speech that a chunk's words leave out, and how a reading of the rest joins the first one.

A chunk decoded as text alone can end before its speech does, or pass over a turn in its middle,
and still decode with confidence: nothing in Whisper's own checks shows it. The words' times do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from engines.whisper.checks import Attempt, failed
from engines.whisper.guard import invented

UNCOVERED_S = 1.5
"""Speech this long with no word in it was left out. A chunk is speech only (VAD's pieces laid end
to end, pauses in them at most 0.8 s), and its words reach to within 0.3-0.7 s of its end (measured
on the dev clips and a dozen conversations built from them); where the text stopped early, 2 to 17 s
were left out."""
LONGEST_WORD_S = 1.5
"""A word timed longer than this is taken to reach only this far. Where the text stopped early, the
alignment gives the speech left out to its last word as often as to no word at all (measured:
"country" timed from 5.2 s to the chunk's end at 18.3 s). Words in the dev clips and the
conversations last at most 1.1 s, a pause included."""
PASSED_OVER_S = 4.0
"""Speech this long left out before another word is a turn passed over, worth reading the whole chunk
again for. Shorter stretches inside a chunk are speakers over each other more often than not (a meeting
of the AMI corpus left out 2-3 s five times in 30 s, and its second reading looped on "yeah")."""
DEPTH = 2
"""A reading of the rest can stop early too, as the first one did: its own rest is read once more."""

Segment = dict[str, Any]
"""faster-whisper's subsegment dict: seek, start, end, text, tokens, words; `attempt` (an `Attempt`)
where it comes from another reading than its chunk's."""


def uncovered(segments: Sequence[Segment], duration: float) -> list[tuple[float, float]]:
    """Stretches of a chunk of `duration` seconds, all of it speech, that its timed words leave out:
    before the first word, between two words, and after the last (each word reaching at most
    LONGEST_WORD_S). A chunk with no words has none (Whisper heard no speech there, which is for the
    noise checks to judge)."""
    words = [word for segment in segments for word in segment.get("words") or ()]
    if not words:
        return []
    stretches = []
    reached = 0.0
    for start, end in [*((float(w["start"]), float(w["end"])) for w in words), (duration, duration)]:
        if start - reached >= UNCOVERED_S:
            stretches.append((reached, start))
        reached = max(reached, min(end, start + LONGEST_WORD_S))
    return stretches


def sure(segments: Sequence[Segment], attempt: Attempt) -> bool:
    """A reading that passed Whisper's checks and that the noise guard keeps. Only such a one is
    read again for what it left out: one that failed is noise, or the best of bad readings, and
    reading some of it again would not tell more."""
    text = "".join(segment["text"] for segment in segments)
    return not failed(attempt.avg_logprob, attempt.compression_ratio) and not invented(
        text, attempt.avg_logprob, attempt.compression_ratio, attempt.no_speech_prob, attempt.temperature
    )


def left_out(segments: Sequence[Segment], duration: float) -> float:
    """Seconds of the chunk's speech that its words leave out."""
    return sum(end - start for start, end in uncovered(segments, duration))


def passed_over(segments: Sequence[Segment], duration: float) -> bool:
    """Whether the words leave out PASSED_OVER_S of speech or more before another word: a turn
    passed over, which the words' times alone cannot place (the alignment may have moved the words
    around it into it)."""
    return any(end < duration and end - start >= PASSED_OVER_S for start, end in uncovered(segments, duration))


def rest(segments: Sequence[Segment], duration: float) -> float | None:
    """Where the speech that the words stopped before begins, if they stopped early."""
    stretches = uncovered(segments, duration)
    return stretches[-1][0] if stretches and stretches[-1][1] >= duration else None


def extended(
    segments: list[Segment],
    start: float,
    reading: Sequence[Segment],
    attempt: Attempt,
    encode: Callable[[str], list[int]],
) -> list[Segment]:
    """A chunk's segments, ending by `start`, then those of the reading of its rest from `start`
    (times in its own reading, which keeps `attempt` for the noise guard), without a first word
    that repeats the chunk's last one (a word that went on past where its time was set to end)."""
    segments = [_ending_by(segment, start) for segment in segments]
    last = [word for segment in segments for word in segment.get("words") or ()][-1:]
    added: list[Segment] = []
    for segment in reading:
        words = [
            {**word, "start": float(word["start"]) + start, "end": float(word["end"]) + start}
            for word in segment.get("words") or ()
        ]
        if not words:
            continue
        if not added and last and _same(words[0], last[0]):
            words = words[1:]
            if not words:
                continue
            text = "".join(word["word"] for word in words)
            segment = {**segment, "text": text, "tokens": encode(text)}
        added.append(
            {
                **segment,
                "start": words[0]["start"],
                "end": words[-1]["end"],
                "words": words,
                "attempt": segment.get("attempt", attempt),
            }
        )
    return [*segments, *added]


def _ending_by(segment: Segment, start: float) -> Segment:
    """A segment whose last word the alignment stretched over the rest, back to where the rest starts."""
    if float(segment["end"]) <= start:
        return segment
    words = [{**word, "end": min(float(word["end"]), start)} for word in segment.get("words") or ()]
    return {**segment, "end": start, "words": words}


_NOT_WORD = re.compile(r"[^\w']+")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _NOT_WORD.sub("", str(a["word"]).lower()) == _NOT_WORD.sub("", str(b["word"]).lower())
