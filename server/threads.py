"""Run blocking model work off the event loop: one worker thread per request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio.to_thread

T = TypeVar("T")

_DONE = object()


async def run_blocking(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=False)


def iterate_in_thread(
    make_items: Callable[[threading.Event], Iterator[T]],
    on_finished: Callable[[], None] | None = None,
    limiter: anyio.CapacityLimiter | None = None,
) -> AsyncIterator[T]:
    """Drive a blocking iterator in one worker thread, starting now, and yield its items here.

    The worker starts at once, so `on_finished` runs even if nobody ever iterates
    (a response that failed before its first byte). Closing the returned iterator (the
    client went away) sets the event handed to `make_items`, and the worker stops at its
    next item; `on_finished` runs in the worker once it really stops, so a concurrency
    slot is held exactly as long as the work runs. Streams take their threads from
    `limiter`, so that long-lived streams cannot starve anyio's shared pool.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in make_items(stop):
                if stop.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, (item, None))
            loop.call_soon_threadsafe(queue.put_nowait, (_DONE, None))
        except BaseException as exc:
            loop.call_soon_threadsafe(queue.put_nowait, (_DONE, exc))
        finally:
            if on_finished is not None:
                on_finished()

    worker = asyncio.ensure_future(anyio.to_thread.run_sync(produce, limiter=limiter))
    return _consume(queue, stop, worker)


async def _consume(
    queue: asyncio.Queue[tuple[object, BaseException | None]], stop: threading.Event, worker: asyncio.Future[None]
) -> AsyncIterator[T]:
    try:
        while True:
            item, error = await queue.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # The worker finishes its current item in the background and exits.
        worker.add_done_callback(_swallow)


def _swallow(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
