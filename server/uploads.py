"""Uploads being received: how fast they come, how many there are, and how many bytes they hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from server.errors import ApiError, overloaded


class UploadTooLarge(Exception):
    """More bytes than the request may send."""


@dataclass(frozen=True)
class Pace:
    """How slowly a body may arrive before the request is cut off."""

    idle_s: float
    """Longest wait for the next bytes."""
    min_bytes_per_s: float
    """Slowest average rate once `grace_s` have passed (0: none)."""
    grace_s: float


class Uploads:
    """At most `max_uploads` bodies being received and kept at once, holding at most `max_bytes`."""

    def __init__(self, max_uploads: int, max_bytes: int) -> None:
        self.max_uploads = max_uploads
        self.max_bytes = max_bytes
        self.active = 0
        self.bytes = 0

    def begin(self) -> Upload:
        if self.active >= self.max_uploads:
            raise overloaded("too_many_uploads", f"{self.active} uploads are being received; retry shortly", 503, 2)
        self.active += 1
        return Upload(self)


class Upload:
    """One body's place among the uploads; `release` (once) when its files are closed."""

    def __init__(self, uploads: Uploads) -> None:
        self._uploads = uploads
        self.bytes = 0
        self._released = False

    def add(self, count: int) -> None:
        self.bytes += count
        self._uploads.bytes += count
        if self._uploads.bytes > self._uploads.max_bytes:
            limit = self._uploads.max_bytes >> 20
            raise overloaded("uploads_full", f"Uploads in progress already hold {limit} MB; retry shortly", 503, 5)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._uploads.active -= 1
            self._uploads.bytes -= self.bytes


async def paced(
    stream: AsyncIterator[bytes], limit: int, pace: Pace, upload: Upload | None = None
) -> AsyncGenerator[bytes, None]:
    """The body, refusing more than `limit` bytes and a sender slower than `pace`."""
    started = time.monotonic()
    received = 0
    chunks = stream.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), pace.idle_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, "upload_stalled", f"No bytes of the body arrived for {pace.idle_s:g} s") from None
        received += len(chunk)
        if received > limit:
            raise UploadTooLarge
        if upload is not None:
            upload.add(len(chunk))
        elapsed = time.monotonic() - started
        if pace.min_bytes_per_s and elapsed > pace.grace_s and received / elapsed < pace.min_bytes_per_s:
            rate = f"{received / elapsed / 1024:.1f} KB/s"
            raise ApiError(408, "upload_too_slow", f"The body arrives at {rate}, slower than this server accepts")
        yield chunk
