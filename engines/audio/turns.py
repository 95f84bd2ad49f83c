"""Where speech starts and stops in a live stream of 16 kHz samples, frame by frame, as it arrives.

A frame is speech when its level is over a threshold; a turn starts at the second speech frame in a
row (a click is not a turn), reaches back `prefix_padding_ms` before it, and stops after
`silence_duration_ms` without speech. A turn longer than `max_turn_s` is cut at its quietest frame
of the last seconds and goes on as the next turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000
FRAME = RATE // 50
"""20 ms."""
START_FRAMES = 2
PAUSE_FRAMES = 3
"""Quiet frames in a row before a turn counts as paused (see `TurnDetector.pause`): past the dips
inside words and between close ones."""
CUT_SEARCH_S = 5.0


@dataclass(frozen=True)
class TurnSettings:
    threshold: float = 0.5
    """0–1, as OpenAI's server VAD takes it: 0.5 is a level of -40 dBFS, 0 of -60 and 1 of -20."""
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200
    max_turn_s: float = 30.0

    @property
    def level_db(self) -> float:
        return -60.0 + 40.0 * min(1.0, max(0.0, self.threshold))


@dataclass(frozen=True)
class Turn:
    """A change: `started` or `stopped`, at a sample counted from the start of the stream."""

    kind: str
    sample: int
    speech_end: int | None = None
    """A turn stopped by silence: where its last speech frame ended (`sample` is where the silence that
    stopped it did)."""


class TurnDetector:
    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self._pending = np.zeros(0, np.float32)
        self._frames = 0
        """Frames seen so far; frame i covers samples [i*FRAME, (i+1)*FRAME)."""
        self._levels: list[float] = []
        """Levels of the frames of the turn in progress (for cutting a long one)."""
        self._run = 0
        self._silent = 0
        self.start: int | None = None
        """Where the turn in progress started; None between turns."""
        self._last_end = 0

    @property
    def speaking(self) -> bool:
        return self.start is not None

    @property
    def pause(self) -> int | None:
        """Where the speech of the turn in progress paused, once it has been quiet for `PAUSE_FRAMES`
        (None while it is heard): if the silence goes on, the turn stops and its speech ended here."""
        if self.start is None or self._silent < PAUSE_FRAMES:
            return None
        return (self._frames - self._silent) * FRAME

    def feed(self, samples: np.ndarray) -> list[Turn]:
        found: list[Turn] = []
        data = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        usable = len(data) // FRAME * FRAME
        self._pending = data[usable:]
        if not usable:
            return found
        frames = data[:usable].reshape(-1, FRAME).astype(np.float64)
        levels = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
        silence_frames = max(1, self.settings.silence_duration_ms // 20)
        for level in levels:
            index = self._frames
            self._frames += 1
            speech = level > self.settings.level_db
            if self.start is None:
                self._run = self._run + 1 if speech else 0
                if self._run >= START_FRAMES:
                    first = (index - START_FRAMES + 1) * FRAME
                    padding = self.settings.prefix_padding_ms * RATE // 1000
                    self.start = max(self._last_end, first - padding)
                    self._levels = [float(level)] * START_FRAMES
                    self._silent = 0
                    found.append(Turn("started", self.start))
                continue
            self._levels.append(float(level))
            self._silent = 0 if speech else self._silent + 1
            end = (index + 1) * FRAME
            if self._silent >= silence_frames:
                found += self._stop(end, speech_end=end - self._silent * FRAME)
            elif end - self.start >= self.settings.max_turn_s * RATE:
                found += self._cut(end)
        return found

    def flush(self) -> list[Turn]:
        """The stream ended (or the client committed): a turn in progress stops where the audio does."""
        if self.start is None:
            return []
        return self._stop(self._frames * FRAME)

    def reset(self, at: int) -> None:
        """Forget any turn in progress (the buffer was cleared or committed by hand)."""
        self.start = None
        self._run = 0
        self._last_end = at

    def _stop(self, end: int, speech_end: int | None = None) -> list[Turn]:
        self.start = None
        self._run = 0
        self._silent = 0
        self._last_end = end
        return [Turn("stopped", end, speech_end)]

    def _cut(self, end: int) -> list[Turn]:
        """A turn too long: it ends in its quietest frame of the last seconds, and a new one starts there."""
        search = int(CUT_SEARCH_S * RATE / FRAME)
        tail = self._levels[-search:]
        quietest = len(self._levels) - len(tail) + int(np.argmin(tail))
        assert self.start is not None
        cut = self.start + (quietest + 1) * FRAME
        cut = min(max(cut, self.start + FRAME), end)
        self._levels = self._levels[quietest + 1 :]
        self.start = cut
        self._last_end = cut
        return [Turn("stopped", cut), Turn("started", cut)]
