"""How many readings of live turns still in progress each model works on at once, across sessions.

Those readings only feed deltas; a turn's final reading is what `completed` waits for. On the CPU a
Whisper reading holds one core for its 30 s encoding, so when every core reads some turn's preview,
a final reading waits a whole reading for one. Previews therefore keep a core free: one fewer than
the cores at once (at least one). A GPU decodes its slots side by side, and previews may take all but
one of them. A session whose preview finds no room skips it and asks again with its next audio.
"""

from __future__ import annotations

import os

from engines.loader import place
from server.core import Core


def preview_limit(device: str, cpu_count: int, slots: int) -> int:
    """Pure: previews a model reads at once, on its device, with `slots` requests at once."""
    if device == "cuda":
        return max(1, slots - 1)
    return max(1, min(slots, cpu_count) - 1)


class Previews:
    """The previews in flight, per model, shared by every session of one server."""

    def __init__(self, core: Core | None) -> None:
        self._core = core
        self._running: dict[str, int] = {}

    def room(self, model: str, mine: int = 0) -> bool:
        """Whether a preview of `model` may start, not counting the caller's own `mine` in flight."""
        return self._running.get(model, 0) - mine < self._limit(model)

    def take(self, model: str, mine: int = 0) -> bool:
        """A preview of `model` may start (call `done` after it): there is room for it."""
        if not self.room(model, mine):
            return False
        self._running[model] = self._running.get(model, 0) + 1
        return True

    def done(self, model: str) -> None:
        self._running[model] = max(0, self._running.get(model, 0) - 1)

    def _limit(self, model: str) -> int:
        core = self._core
        if core is None:
            return 1
        entry = core.model(model, "transcription")
        admission = core.admissions.get(entry.slug)
        slots = admission.concurrency if admission is not None else 1
        device = place(entry, core.models.loader.has_cuda).device
        return preview_limit(device, os.cpu_count() or 1, slots)
