"""A transcript's words given to the speakers who said them, and its segments cut where the speaker changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from engines.base import Segment, SpeakerTurn, Word

NEAR_S = 1.0
"""A word in no turn (a breath the segmentation missed) goes to the speaker of a turn this near."""


def attribute(segments: Iterable[Segment], turns: Sequence[SpeakerTurn]) -> list[Segment]:
    """Each word the speaker whose turns overlap it most; each segment cut into runs of one speaker
    (numbered anew), carrying that speaker. Segments without words are given whole."""
    result: list[Segment] = []
    previous: str | None = None
    for segment in segments:
        if not segment.words:
            previous = speaker_at(turns, segment.start, segment.end) or previous
            result.append(replace(segment, id=len(result), speaker=previous))
            continue
        words = []
        for word in segment.words:
            previous = speaker_at(turns, word.start, word.end) or previous
            words.append(replace(word, speaker=previous))
        for run in _runs(words):
            result.append(_piece(segment, run, len(result), whole=len(run) == len(words)))
    return result


def speaker_at(turns: Sequence[SpeakerTurn], start: float, end: float) -> str | None:
    """The speaker whose turns cover most of [start, end]; else the nearest turn's, within `NEAR_S`."""
    covered: dict[str, float] = {}
    for turn in turns:
        overlap = min(end, turn.end) - max(start, turn.start)
        if overlap > 0:
            covered[turn.speaker] = covered.get(turn.speaker, 0.0) + overlap
    if covered:
        return max(covered, key=lambda name: covered[name])
    middle = (start + end) / 2
    distance, nearest = min(
        ((max(turn.start - middle, middle - turn.end), turn.speaker) for turn in turns), default=(NEAR_S, None)
    )
    return nearest if distance < NEAR_S else None


def _runs(words: list[Word]) -> list[list[Word]]:
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _piece(segment: Segment, words: list[Word], number: int, whole: bool) -> Segment:
    if whole:
        return replace(segment, id=number, words=tuple(words), speaker=words[0].speaker)
    # A part's own tokens are not known (Whisper's tokens do not split at word times); its text is its words.
    return replace(
        segment,
        id=number,
        start=words[0].start,
        end=words[-1].end,
        text="".join(w.word for w in words),
        tokens=(),
        words=tuple(words),
        speaker=words[0].speaker,
    )
