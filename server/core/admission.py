"""Admission control: a per-model concurrency limit with a bounded FIFO wait queue."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

from server.errors import overloaded


def synthesis_concurrency(device: str, cpu_count: int) -> int:
    """Speech requests a model runs at once when `concurrency = 0` leaves it to the device.

    Synthesis streams share a render gate sentence by sentence, so many can be open at once.
    (Transcription's follows its batches: see `engines.loader.requests_at_once`.)
    """
    return 16 if device == "cuda" else max(8, 4 * cpu_count)


class Admission:
    """At most `concurrency` requests run; `max_queue` more may wait; the rest get 429 at once.

    Background work (a job's windows) waits in a queue of its own, with no time limit: it gets a slot
    only when no request waits, and it never holds the last free one, so that a request that comes
    in finds a slot at once (where the model takes more than one at a time).
    """

    def __init__(self, name: str, concurrency: int, max_queue: int, timeout_s: float) -> None:
        self.name = name
        self.concurrency = max(1, concurrency)
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.active = 0
        self.background_limit = max(1, self.concurrency - 1)
        self.background_active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._service_seconds: float | None = None
        """Average time a request holds a slot (moving average); None until one has finished."""
        self.on_wait: Callable[[str, float], None] | None = None

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def saturated(self) -> bool:
        return self.active >= self.concurrency and len(self._waiting) >= self.max_queue

    async def acquire(self, timeout_s: float | None = None) -> Ticket:
        """Wait for a slot (at most `timeout_s`, and never past the model's own timeout).

        Raises 429 when the queue is full and 503 on timeout."""
        started = time.monotonic()
        timeout = self.timeout_s if timeout_s is None else max(0.0, min(timeout_s, self.timeout_s))
        if self.active < self.concurrency and not self._waiting:
            self.active += 1
            return self._ticket(started)
        if len(self._waiting) >= self.max_queue:
            raise overloaded(
                "queue_full",
                f"{self.name} is busy ({self.active} running, {len(self._waiting)} waiting); retry later",
                429,
                self._retry_after(),
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if future.done() and not future.cancelled():
                # The slot was handed over just as we gave up: pass it on.
                self._release(background=False)
            else:
                future.cancel()
                self._waiting.remove(future)
            if isinstance(exc, TimeoutError):
                raise overloaded(
                    "timeout",
                    f"{self.name} did not free a slot within {self.timeout_s:.0f} s",
                    503,
                    self._retry_after(),
                ) from None
            raise
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Python 3.11's wait_for returns a result that comes in together with its cancel: a
            # caller on its way out (its client hung up) must not walk off with the slot.
            self._release(background=False)
            raise asyncio.CancelledError
        return self._ticket(started)

    async def acquire_background(self) -> Ticket:
        """A slot for work no one waits on, behind every request; cancel the caller to stop waiting."""
        started = time.monotonic()
        if not self._waiting and not self._background and self._background_fits():
            self.active += 1
            self.background_active += 1
            return self._ticket(started, background=True)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._background.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(background=True)
            else:
                future.cancel()
                with contextlib.suppress(ValueError):
                    self._background.remove(future)
            raise
        return self._ticket(started, background=True)

    def _background_fits(self) -> bool:
        return self.active < self.concurrency and self.background_active < self.background_limit

    def _ticket(self, started: float, background: bool = False) -> Ticket:
        waited = time.monotonic() - started
        if self.on_wait is not None and not background:
            self.on_wait(self.name, waited)
        return Ticket(self, asyncio.get_running_loop(), waited, background)

    def _release(self, background: bool) -> None:
        """A slot comes free: the next request takes it, or else background work that fits."""
        self.active -= 1
        if background:
            self.background_active -= 1
        while self._waiting and self.active < self.concurrency:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(None)
                self.active += 1
        while self._background and self._background_fits():
            future = self._background.popleft()
            if not future.done():
                future.set_result(None)
                self.active += 1
                self.background_active += 1

    def _record_service(self, seconds: float) -> None:
        previous = self._service_seconds
        self._service_seconds = seconds if previous is None else 0.7 * previous + 0.3 * seconds

    def _retry_after(self) -> float:
        """When a new request would get a slot: the queue ahead of it, served `concurrency` at a time
        at the measured service time, with the running ones half done on average."""
        service = self._service_seconds if self._service_seconds is not None else 1.0
        ahead = len(self._waiting) + self.active / 2
        return max(1.0, (ahead + 1) / self.concurrency * service)


class Ticket:
    """A held slot; `release` may be called from any thread, and only its first call counts."""

    def __init__(
        self, admission: Admission, loop: asyncio.AbstractEventLoop, waited: float = 0.0, background: bool = False
    ) -> None:
        self.waited = waited
        self.background = background
        """Seconds spent in the queue before this slot was granted."""
        self._admission = admission
        self._loop = loop
        self._started = time.monotonic()
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        elapsed = time.monotonic() - self._started

        def give_back() -> None:
            if not self.background:
                self._admission._record_service(elapsed)
            self._admission._release(self.background)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            give_back()
        else:
            self._loop.call_soon_threadsafe(give_back)
