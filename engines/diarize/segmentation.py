"""pyannote's segmentation-3.0 on onnxruntime: for each ~17 ms of a recording, how likely it is that
anyone speaks, and that two or more do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from engines.onnx import session

SAMPLE_RATE = 16000
CHUNK = 10 * SAMPLE_RATE
"""The model hears 10 s at a time."""
FRAME = 270
"""Samples between two output frames (SincNet's stride times three max-pools of 3); each frame sees 721."""
CHUNK_FRAMES = 589
STEP_FRAMES = 148
"""Chunks start every 148 frames (2.4975 s), a whole number of frames, so that every chunk's frames fall
on the recording's; each frame is then heard in four chunks."""
BATCH = 8
NOBODY = 0
OVERLAP = slice(4, 7)
"""The powerset classes: 0 nobody, 1-3 one of the chunk's three speakers, 4-6 a pair of them."""


@dataclass(frozen=True)
class Frames:
    """The segmentation of a whole recording, one value per frame."""

    frame_s: float
    """Seconds per frame: frame i stands for [i * frame_s, (i + 1) * frame_s) (the model heard the 45 ms from
    its start, so its values come about 20 ms early: well within a turn boundary's accuracy)."""
    speech: np.ndarray
    """Probability that anyone speaks (float32)."""
    overlap: np.ndarray
    """Probability that two or more speak at once (float32)."""


@dataclass
class Segmentation:
    """segmentation-3.0 slid over a recording in overlapping 10 s chunks; chunks are weighted by a Hamming
    window where they overlap, as pyannote aggregates them, since a chunk hears least at its edges."""

    session: onnxruntime.InferenceSession
    batch: int = BATCH

    @classmethod
    def load(cls, path: Path, threads: int = 1) -> Segmentation:
        """`threads` is onnxruntime's intra-op count: one keeps a request on one core, as the transcribers do."""
        return cls(session(path, threads=threads, quiet=True))

    def run(self, audio: np.ndarray) -> Frames:
        """Frames for 16 kHz mono float32 `audio` of any length (a recording under 10 s is padded with silence)."""
        audio = np.asarray(audio, dtype=np.float32)
        count = max(1, -(-len(audio) // FRAME))
        starts = chunk_starts(len(audio))
        weights = np.hamming(CHUNK_FRAMES).astype(np.float32) + 1e-3
        total = starts[-1] // FRAME + CHUNK_FRAMES
        speech = np.zeros(total, dtype=np.float32)
        overlap = np.zeros(total, dtype=np.float32)
        weight = np.zeros(total, dtype=np.float32)
        for first in range(0, len(starts), self.batch):
            batch = starts[first : first + self.batch]
            chunks = np.zeros((len(batch), 1, CHUNK), dtype=np.float32)
            for row, start in enumerate(batch):
                piece = audio[start : start + CHUNK]
                chunks[row, 0, : len(piece)] = piece
            probabilities = np.exp(self.session.run(None, {"input": chunks})[0])
            for row, start in enumerate(batch):
                at = slice(start // FRAME, start // FRAME + CHUNK_FRAMES)
                speech[at] += (1.0 - probabilities[row, :, NOBODY]) * weights
                overlap[at] += probabilities[row, :, OVERLAP].sum(axis=1) * weights
                weight[at] += weights
        # The last frames of a recording that fills whole chunks fall past the last chunk's 589th frame:
        # they take the last frame heard.
        heard = min(count, total)
        speech, overlap = speech[:heard] / weight[:heard], overlap[:heard] / weight[:heard]
        tail = count - heard
        return Frames(
            frame_s=FRAME / SAMPLE_RATE,
            speech=np.pad(speech, (0, tail), mode="edge"),
            overlap=np.pad(overlap, (0, tail), mode="edge"),
        )


def chunk_starts(samples: int) -> list[int]:
    """Pure: where the 10 s chunks start, in samples: every `STEP_FRAMES` frames, then one more whose end
    is within a frame of the recording's (padded with silence past it), so that the end is heard in full."""
    step = STEP_FRAMES * FRAME
    starts = list(range(0, max(1, samples - CHUNK + 1), step))
    last = -(-max(0, samples - CHUNK) // FRAME) * FRAME
    if last > starts[-1]:
        starts.append(last)
    return starts
