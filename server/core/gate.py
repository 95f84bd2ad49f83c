"""A slot gate for worker threads that serves the lowest priority number first, then arrival order."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PriorityGate:
    """Lets `slots` holders run at once. Synthesis asks with the sentence index as priority,
    so every stream's first sentence runs before anyone's second: under load each client
    hears audio early, instead of one request finishing before the next starts."""

    def __init__(self, slots: int) -> None:
        self._free = max(1, slots)
        self._waiting: list[tuple[int, int]] = []
        self._arrivals = itertools.count()
        self._changed = threading.Condition()

    @property
    def waiting(self) -> int:
        """Holders queued for a slot."""
        with self._changed:
            return len(self._waiting)

    @contextmanager
    def hold(self, priority: int) -> Iterator[None]:
        with self._changed:
            place = (priority, next(self._arrivals))
            heapq.heappush(self._waiting, place)
            while not (self._free and self._waiting[0] == place):
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._changed.notify_all()
