"""Diarization error rate, scored the NIST way on 10 ms frames, for comparing speaker turns with reference turns.

The error is the time of missed speech, false-alarm speech and speaker confusion, over the reference speech time,
where overlapped reference speech counts once per speaker (two people talking for 1 s is 2 s of reference speech).
Hypothesis speakers are mapped one to one onto reference speakers so as to maximise the time they agree on (the
Hungarian algorithm, so any number of speakers); a speaker left unmapped is confusion wherever the other side speaks.

`collar` takes ±collar seconds around every reference boundary (each speaker's turn starts and ends, after merging
that speaker's own overlapping turns) out of scoring, as NIST md-eval's `-c` and dscore do; pyannote.metrics
instead takes collar/2 either side, so its collar=0.5 is this collar=0.25. `skip_overlap` takes out the frames
where two or more reference speakers talk. Only numpy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

FRAME = 0.01


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class DerResult:
    """Seconds of each error kind, and of reference speech (`total`), over the scored frames."""

    miss: float
    false_alarm: float
    confusion: float
    total: float
    mapping: dict[str, str] = field(default_factory=dict)  # reference speaker -> hypothesis speaker

    @property
    def error(self) -> float:
        return self.miss + self.false_alarm + self.confusion

    @property
    def der(self) -> float:
        """Error over reference speech; 0.0 or 1.0 where there is no reference speech, as pyannote.metrics."""
        if self.total == 0:
            return 0.0 if self.error == 0 else 1.0
        return self.error / self.total


def parse_rttm(text: str, uri: str | None = None) -> list[Turn]:
    """The SPEAKER lines of RTTM text (`SPEAKER file chnl tbeg tdur ortho stype name conf ...`), sorted by start.

    Other line types (SPKR-INFO, LEXEME, ...), blank lines and `;;` or `#` comments are skipped; `uri` keeps only
    that file's turns. A malformed SPEAKER line raises ValueError.
    """
    turns = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise ValueError(f"RTTM line {number}: a SPEAKER line has at least 8 fields: {line!r}")
        if uri is not None and fields[1] != uri:
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise ValueError(f"RTTM line {number}: tbeg and tdur must be numbers: {line!r}") from None
        if not (math.isfinite(start) and math.isfinite(duration)) or duration < 0:
            raise ValueError(f"RTTM line {number}: bad times: {line!r}")
        turns.append(Turn(start, round(start + duration, 6), fields[7]))
    return sorted(turns, key=lambda turn: (turn.start, turn.end, turn.speaker))


def format_rttm(turns: Iterable[Turn], uri: str) -> str:
    """RTTM text, one SPEAKER line a turn, times to the millisecond."""
    return "".join(
        f"SPEAKER {uri} 1 {turn.start:.3f} {turn.duration:.3f} <NA> <NA> {turn.speaker} <NA> <NA>\n"
        for turn in sorted(turns, key=lambda turn: (turn.start, turn.end, turn.speaker))
    )


def speaker_count(turns: Iterable[Turn]) -> int:
    """How many distinct speakers have some speech (turns longer than zero)."""
    return len({turn.speaker for turn in turns if turn.end > turn.start})


def der(
    reference: Sequence[Turn],
    hypothesis: Sequence[Turn],
    collar: float = 0.0,
    skip_overlap: bool = False,
    uem: tuple[float, float] | None = None,
    frame: float = FRAME,
) -> DerResult:
    """Diarization error of `hypothesis` against `reference`.

    Scored over `uem` (start, end) in seconds, or by default from 0 to the last end of either side.
    """
    if collar < 0 or frame <= 0:
        raise ValueError("collar must be >= 0 and frame > 0")
    if uem is None:
        uem = (0.0, max((turn.end for turn in [*reference, *hypothesis]), default=0.0))
    first, last = _frame(uem[0], frame), _frame(uem[1], frame)
    n_frames = max(last, 0)
    ref_names, ref = _activity(reference, n_frames, frame)
    hyp_names, hyp = _activity(hypothesis, n_frames, frame)

    scored = np.zeros(n_frames, dtype=bool)
    scored[max(first, 0) : n_frames] = True
    if collar > 0 and ref.size:
        width = _frame(collar, frame)
        padded = np.zeros((ref.shape[0], n_frames + 2), dtype=bool)
        padded[:, 1:-1] = ref
        for boundary in np.flatnonzero((padded[:, 1:] != padded[:, :-1]).any(axis=0)):
            scored[max(boundary - width, 0) : boundary + width] = False
    if skip_overlap:
        scored &= ref.sum(axis=0) < 2

    ref, hyp = ref[:, scored].astype(np.int64), hyp[:, scored].astype(np.int64)
    overlap = ref @ hyp.T
    pairs = [(r, h) for r, h in _assign(overlap) if overlap[r, h] > 0]
    correct = sum(int(overlap[r, h]) for r, h in pairs)
    ref_count, hyp_count = ref.sum(axis=0), hyp.sum(axis=0)
    return DerResult(
        miss=float(np.maximum(ref_count - hyp_count, 0).sum()) * frame,
        false_alarm=float(np.maximum(hyp_count - ref_count, 0).sum()) * frame,
        confusion=(float(np.minimum(ref_count, hyp_count).sum()) - correct) * frame,
        total=float(ref_count.sum()) * frame,
        mapping={ref_names[r]: hyp_names[h] for r, h in pairs},
    )


def _frame(seconds: float, frame: float) -> int:
    return round(seconds / frame)


def _activity(turns: Sequence[Turn], n_frames: int, frame: float) -> tuple[list[str], np.ndarray]:
    names = sorted({turn.speaker for turn in turns})
    active = np.zeros((len(names), n_frames), dtype=bool)
    for turn in turns:
        active[names.index(turn.speaker), max(_frame(turn.start, frame), 0) : max(_frame(turn.end, frame), 0)] = True
    return names, active


def _assign(weights: np.ndarray) -> list[tuple[int, int]]:
    """Rows matched one to one with columns, maximising the summed weight (Kuhn-Munkres with potentials)."""
    if weights.size == 0:
        return []
    transposed = weights.shape[0] > weights.shape[1]
    matrix = weights.T if transposed else weights
    n, m = matrix.shape  # n <= m: every row gets a column
    top = int(matrix.max())
    cost = [[top - int(value) for value in row] for row in matrix]  # minimise; same optimum
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    owner, way = [0] * (m + 1), [0] * (m + 1)  # owner[j]: row (1-based) holding column j; column 0 is a sentinel
    for row in range(1, n + 1):
        owner[0], column = row, 0
        least, used = [math.inf] * (m + 1), [False] * (m + 1)
        while owner[column] != 0:
            used[column] = True
            i, delta, nearest = owner[column], math.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    reduced = cost[i - 1][j - 1] - u[i] - v[j]
                    if reduced < least[j]:
                        least[j], way[j] = reduced, column
                    if least[j] < delta:
                        delta, nearest = least[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    least[j] -= delta
            column = nearest
        while column:
            previous = way[column]
            owner[column] = owner[previous]
            column = previous
    pairs = [(owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j]]
    return sorted((c, r) for r, c in pairs) if transposed else sorted(pairs)
