"""Who spoke when, from the segmentation model's speech and overlap frames and the speaker encoder's
voice prints of short windows over the speech, grouped by `cluster`."""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.base import Diarization, DiarizationOptions, KnownSpeaker, SpeakerTurn
from engines.diarize.cluster import centroids, cluster, match
from engines.diarize.embedding import SpeakerEncoder
from engines.diarize.segmentation import Segmentation

RATE = 16000
WINDOW_S = 1.6
"""The voice print's window: what the encoder was trained on."""
HOP_S = 0.5
"""Between two windows' starts. The encoder's time grows with the number of windows; 0.4 s and 0.5 s made the
same errors on scripts/bench/diarization.py's recordings, and past 0.5 s a 30 s meeting had too few windows
for its quieter speakers to be found every time."""
MIN_WINDOW_S = 0.8
"""A stretch of speech shorter than this is printed with the audio around it, up to this length."""
MIN_SPEECH_S = 0.25
"""Shorter stretches of speech are noise to the encoder: they take the speaker around them."""
MIN_GAP_S = 0.1
MOST_SPEAKERS = 8
SPEAKER_S = 6.0
"""Speech that makes a speaker, unless they have `cluster.SPEAKER_SHARE` of it: less is more likely a
cough, a laugh or two voices at once, and goes to the speaker it sounds most like."""
KNOWN_THRESHOLD = 0.7
"""Cosine of a speaker's voice print and a known speaker's above which they are the same person. A speaker's
mean print against a clip of the same person measures 0.94 on average and over 0.83 nine times in ten;
against someone else's, 0.59 on average and under 0.76 nine times in ten (on the recordings of
scripts/bench/diarization.py)."""


@dataclass
class SpeakerDiarizer:
    """A `engines.base.Diarizer`: segmentation-3.0 finds the speech and where two speak at once; GE2E
    prints 1.6 s windows of it; `cluster` groups the prints by speaker; each frame of speech goes to the
    speaker the windows over it sound most like, and where two speak, to the next one too."""

    segmentation: Segmentation
    encoder: SpeakerEncoder

    @classmethod
    def load(cls, segmentation: Path, encoder: Path) -> SpeakerDiarizer:
        return cls(Segmentation.load(segmentation), SpeakerEncoder.load(encoder))

    def diarize(self, audio: np.ndarray, options: DiarizationOptions) -> Diarization:
        frames = self.segmentation.run(audio)
        step = frames.frame_s
        speech = _runs(frames.speech > 0.5, step)
        windows = list(_windows([r for r in speech if r[1] - r[0] >= MIN_SPEECH_S], len(audio) / RATE))
        if not windows:
            return Diarization(turns=[], voices={})
        prints = self.encoder.embed([audio[int(a * RATE) : int(b * RATE)] for a, b in windows])
        labels = cluster(
            prints,
            count=options.num_speakers,
            least=options.min_speakers or 1,
            most=options.max_speakers or MOST_SPEAKERS,
            enough=round(SPEAKER_S / HOP_S),
        )
        voices = centroids(prints, labels)
        votes = _votes(windows, np.clip(prints @ voices.T, 0.0, None), len(frames.speech), step)
        first, second = _top_two(votes)
        speaking = frames.speech > 0.5
        heard: dict[int, list[tuple[float, float]]] = {}
        for label in range(len(voices)):
            mask = speaking & ((first == label) | ((second == label) & (frames.overlap > 0.5)))
            if runs := [(a, b) for a, b in _runs(mask, step) if b - a >= MIN_GAP_S]:
                heard[label] = runs
        # Speakers in order of their first turn, so that the letters follow it; one left without a turn is dropped.
        order = sorted(heard, key=lambda label: heard[label][0][0])
        names = self._names(voices[order], options.known)
        turns = [SpeakerTurn(a, b, name) for label, name in zip(order, names, strict=True) for a, b in heard[label]]
        turns.sort(key=lambda t: (t.start, t.end))
        return Diarization(turns=turns, voices={name: voices[k] for k, name in zip(order, names, strict=True)})

    def voiceprint(self, audio: np.ndarray) -> np.ndarray:
        return self.encoder.embed_utterance(audio)

    def _names(self, voices: np.ndarray, known: tuple[KnownSpeaker, ...]) -> list[str]:
        """Known speakers' names where a speaker matches one, else the next free letter."""
        matched = match(np.stack([k.voice for k in known]), voices, KNOWN_THRESHOLD) if known else {}
        taken = {k.name for k in known}
        letters = (name for name in _letters() if name not in taken)
        return [known[matched[k]].name if k in matched else next(letters) for k in range(len(voices))]


def _runs(mask: np.ndarray, step: float) -> list[tuple[float, float]]:
    """The stretches where `mask` holds, in seconds; gaps shorter than `MIN_GAP_S` are bridged."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    runs: list[tuple[float, float]] = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        a, b = float(start * step), float(end * step)
        if runs and a - runs[-1][1] < MIN_GAP_S:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs


def _windows(speech: list[tuple[float, float]], duration: float) -> Iterator[tuple[float, float]]:
    """1.6 s windows every 0.5 s over each stretch of speech, the last one flush with its end; a short
    stretch gets one window around it."""
    for start, end in speech:
        if end - start < WINDOW_S:
            middle, half = (start + end) / 2, max(end - start, MIN_WINDOW_S) / 2
            yield max(0.0, middle - half), min(duration, middle + half)
            continue
        count = int(np.ceil((end - start - WINDOW_S) / HOP_S)) + 1
        for index in range(count):
            a = min(start + index * HOP_S, end - WINDOW_S)
            yield a, a + WINDOW_S


def _votes(windows: list[tuple[float, float]], likeness: np.ndarray, frames: int, step: float) -> np.ndarray:
    """(frames, speakers): each window votes for each speaker by how alike its print and the speaker's
    are (`likeness`, windows by speakers), over the frames it covers, its middle counting most, so that a
    change of speaker falls between the windows that disagree, and a window that straddles it counts less."""
    votes = np.zeros((frames, likeness.shape[1]))
    for (a, b), alike in zip(windows, likeness, strict=True):
        first, last = int(a / step), min(frames, int(np.ceil(b / step)))
        if last <= first:
            continue
        position = (np.arange(first, last) * step - a) / max(b - a, 1e-6)
        votes[first:last] += np.outer(1.0 - np.abs(2 * position - 1) * 0.9, alike)
    return votes


def _top_two(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's speaker (the nearest window's where none covers it) and the runner-up (-1: none)."""
    covered = votes.max(axis=1) > 0
    if not covered.any():
        return np.zeros(len(votes), dtype=np.int64), np.full(len(votes), -1)
    order = np.argsort(-votes, axis=1)
    first = order[:, 0].copy()
    indices = np.flatnonzero(covered)
    nearest = indices[np.clip(np.searchsorted(indices, np.arange(len(votes))), 0, len(indices) - 1)]
    first[~covered] = first[nearest[~covered]]
    if votes.shape[1] < 2:
        return first, np.full(len(votes), -1)
    second = np.where(votes[np.arange(len(votes)), order[:, 1]] > 0, order[:, 1], -1)
    return first, second


def _letters() -> Iterator[str]:
    yield from string.ascii_uppercase
    for a in string.ascii_uppercase:
        for b in string.ascii_uppercase:
            yield a + b
