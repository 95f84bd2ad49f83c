"""How a Whisper model batches on its device: pure, so that the server's admission can size itself by it."""

from __future__ import annotations

from dataclasses import dataclass

from engines.base import Placement
from engines.models.registry import ModelEntry


@dataclass(frozen=True)
class Batching:
    """How a model decodes chunks: how many at once, in how many workers, waiting how long for company."""

    batch_size: int = 4
    workers: int = 1
    wait_s: float = 0.005
    long_audio: bool = True
    """Batch the chunks of audio longer than one chunk too; False decodes it sequentially."""


def batching_for(entry: ModelEntry, placement: Placement, cpu_count: int) -> tuple[Batching, int]:
    """Pure: how a Whisper model batches, and its threads per worker (0: CTranslate2's choice).

    On the CPU, measured on 2 cores with tiny.en and base: one single-threaded worker per core,
    each decoding batches of up to 4 chunks, got a third more audio through than one worker
    using both cores. Past 4 cores each worker gets a few threads, so that one request alone
    still uses more than a core. A GPU decodes one big batch at a time (not measured here).
    """
    decoding = entry.decoding
    if placement.device == "cuda":
        workers = decoding.num_workers or 1
        batch_size = decoding.batch_size or 16
        threads = decoding.cpu_threads
    else:
        workers = decoding.num_workers or (cpu_count if cpu_count <= 4 else max(2, cpu_count // 4))
        batch_size = decoding.batch_size or 4
        threads = decoding.cpu_threads or max(1, cpu_count // workers)
    batching = Batching(
        batch_size=batch_size,
        workers=workers,
        wait_s=decoding.batch_wait_ms / 1000,
        long_audio=decoding.long_audio == "batched",
    )
    return batching, threads


def requests_at_once(entry: ModelEntry, placement: Placement, cpu_count: int) -> int:
    """Enough requests at once to fill every worker's batch."""
    batching, _ = batching_for(entry, placement, cpu_count)
    return batching.batch_size * batching.workers
