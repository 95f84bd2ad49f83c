"""Subtitle cues sized for reading, and their SRT and WebVTT renderings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engines.base import Segment, Word

LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 6.0
SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_END = (*SENTENCE_END, ",", ";", ":", "，", "、")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    """Already wrapped into at most two lines."""
    speaker: str | None = None


def cues(segments: Sequence[Segment]) -> list[Cue]:
    """Split segments at word boundaries into cues of at most two ~42-character lines and a few seconds."""
    result: list[Cue] = []
    for segment in segments:
        words = list(segment.words) or _spread_words(segment)
        group: list[Word] = []
        for word in words:
            if group and _too_big([*group, word]):
                cut = _clause_break(group)
                result.append(_cue(group[:cut], segment.speaker))
                group = group[cut:]
            group.append(word)
            if word.word.strip().endswith(SENTENCE_END) and _length(group) > LINE_CHARS // 2:
                result.append(_cue(group, segment.speaker))
                group = []
        if group:
            result.append(_cue(group, segment.speaker))
    return [c for c in result if c.text]


def srt(segments: Sequence[Segment]) -> str:
    """SRT has no voices: a cue's speaker is a `Name:` prefix, as broadcast subtitles mark one."""
    blocks = [
        f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n"
        + (f"{c.speaker}: " if c.speaker else "")
        + f"{c.text}\n"
        for i, c in enumerate(cues(segments), start=1)
    ]
    return "\n".join(blocks)


def vtt(segments: Sequence[Segment]) -> str:
    """A cue's speaker is a WebVTT voice span, `<v Name>`, which players show or style."""
    blocks = [
        f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n"
        + (f"<v {_voice(c.speaker)}>" if c.speaker else "")
        + f"{c.text}\n"
        for c in cues(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _voice(name: str) -> str:
    """A name as a voice span's annotation: it ends at `>`, and `&` and `<` are escaped in cue text."""
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clause_break(words: list[Word]) -> int:
    """Where to end a full cue: after the last clause punctuation in its second half, else at the end."""
    for index in range(len(words) - 1, len(words) // 2 - 1, -1):
        if index > 0 and words[index - 1].word.strip().endswith(CLAUSE_END):
            return index
    return len(words)


def _too_big(words: list[Word]) -> bool:
    return words[-1].end - words[0].start > MAX_CUE_SECONDS or len(_wrap(_join(words))) > MAX_LINES


def _length(words: list[Word]) -> int:
    return len(_join(words))


def _cue(words: list[Word], speaker: str | None = None) -> Cue:
    return Cue(
        start=words[0].start,
        end=max(words[-1].end, words[0].start),
        text="\n".join(_wrap(_join(words))),
        speaker=speaker,
    )


def _join(words: list[Word]) -> str:
    return "".join(w.word for w in words).strip()


def _wrap(text: str) -> list[str]:
    """Greedy wrap at spaces into lines of at most LINE_CHARS (a longer single word stays whole)."""
    lines: list[str] = []
    for token in text.split():
        if lines and len(lines[-1]) + 1 + len(token) <= LINE_CHARS:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return _balance(lines) if len(lines) == MAX_LINES else lines


def _balance(lines: list[str]) -> list[str]:
    # Two lines of similar length read better than one long and one stub.
    words = " ".join(lines).split()
    best = lines
    best_gap = abs(len(lines[0]) - len(lines[1]))
    for cut in range(1, len(words)):
        first, second = " ".join(words[:cut]), " ".join(words[cut:])
        if len(first) <= LINE_CHARS and len(second) <= LINE_CHARS and abs(len(first) - len(second)) < best_gap:
            best, best_gap = [first, second], abs(len(first) - len(second))
    return best


def _spread_words(segment: Segment) -> list[Word]:
    """Without word timings, give each word a share of the segment proportional to its length."""
    tokens = segment.text.split()
    if not tokens:
        return []
    total = sum(len(t) + 1 for t in tokens)
    span = segment.end - segment.start
    words, position = [], segment.start
    for token in tokens:
        length = span * (len(token) + 1) / total
        words.append(Word(start=round(position, 3), end=round(position + length, 3), word=" " + token, probability=1.0))
        position += length
    return words


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
