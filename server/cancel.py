"""Deadlines and hang-ups: what worker threads check between steps of a request's work."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field

from server.errors import ApiError


class ClientGone(Exception):
    """The client disconnected; whatever was left of its work was not done."""


@dataclass
class Cancellation:
    """Set when the client leaves; past `deadline` the work stops with a 503.

    The clock starts when the request arrives; the core sets the limit once it knows
    which model the request is for (each model has its own `timeout_s`).
    """

    started: float = field(default_factory=time.monotonic)
    deadline: float = math.inf
    event: threading.Event = field(default_factory=threading.Event)
    """Seen by worker threads between steps."""
    left: asyncio.Event = field(default_factory=asyncio.Event)
    """Awaited on the event loop: a request waiting in a queue leaves it as soon as this is set."""
    budget_end: float = math.inf
    """When the work, once it has its slot, must be done; past it `over_budget` is raised."""
    over_budget: ApiError | None = None

    def leave(self) -> None:
        """The client hung up (call on the event loop)."""
        self.event.set()
        self.left.set()

    def limit(self, seconds: float) -> None:
        self.deadline = min(self.deadline, self.started + seconds)

    def budget(self, started: float, seconds: float, error: ApiError) -> None:
        """The work that began at `started` (monotonic) may take `seconds`; then it stops with `error`."""
        self.budget_end = started + seconds
        self.over_budget = error

    @property
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        if self.event.is_set():
            raise ClientGone
        now = time.monotonic()
        if now > self.deadline:
            raise ApiError(503, "timeout", "The request ran past the server's time limit", headers={"Retry-After": "5"})
        if now > self.budget_end and self.over_budget is not None:
            raise self.over_budget
