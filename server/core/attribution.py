"""A transcript's words given to the speakers who said them, and its segments cut where the speaker changes."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import replace

from engines.base import Segment, SpeakerTurn, Word

NEAR_S = 1.0
"""A word in no turn (a breath the segmentation missed) goes to the speaker of a turn this near."""


def attribute(segments: Iterable[Segment], turns: Sequence[SpeakerTurn]) -> list[Segment]:
    """Each word the speaker whose turns overlap it most; each segment cut into runs of one speaker
    (numbered anew), carrying that speaker. Segments without words are given whole."""
    near = _Near(turns)
    result: list[Segment] = []
    previous: str | None = None
    for segment in segments:
        if not segment.words:
            previous = near.speaker_at(segment.start, segment.end) or previous
            result.append(replace(segment, id=len(result), speaker=previous))
            continue
        words = []
        for word in segment.words:
            previous = near.speaker_at(word.start, word.end) or previous
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


class _Near:
    """The turns by their start, so that a word is weighed against the few that can reach it, not
    against every turn of hours of audio."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda turn: turn.start)
        self.starts = [turn.start for turn in self.turns]
        self.reach = max((turn.end - turn.start for turn in self.turns), default=0.0) + NEAR_S
        """A turn that starts this long before a word ends more than NEAR_S before it."""

    def speaker_at(self, start: float, end: float) -> str | None:
        low, high = bisect_left(self.starts, start - self.reach), bisect_right(self.starts, end + NEAR_S)
        return speaker_at(self.turns[low:high], start, end)


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
