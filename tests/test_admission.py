"""Admission queues and the sentence gate, without any model."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server.core.admission import Admission
from server.core.gate import PriorityGate
from server.errors import ApiError
from server.testing import wait_for


def test_fifo_queue_then_429_then_drain() -> None:
    async def scenario() -> None:
        admission = Admission("m", concurrency=1, max_queue=2, timeout_s=5)
        first = await admission.acquire()
        waiters = [asyncio.create_task(admission.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        assert admission.queued == 2 and admission.saturated
        with pytest.raises(ApiError) as refused:
            await admission.acquire()
        assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) >= 1
        first.release()
        second = await waiters[0]
        assert not waiters[1].done()
        # Released from a worker thread, as the streaming paths do.
        threading.Thread(target=second.release).start()
        third = await waiters[1]
        third.release()
        third.release()  # a second release is ignored
        await asyncio.sleep(0)
        assert admission.active == 0 and admission.queued == 0

    asyncio.run(scenario())


def test_waiting_past_the_timeout_is_503() -> None:
    async def scenario() -> None:
        admission = Admission("m", concurrency=1, max_queue=1, timeout_s=0.1)
        held = await admission.acquire()
        with pytest.raises(ApiError) as timed_out:
            await admission.acquire()
        assert timed_out.value.status == 503 and timed_out.value.code == "timeout"
        assert admission.queued == 0
        held.release()
        (await admission.acquire()).release()

    asyncio.run(scenario())


@pytest.mark.parametrize("slot_frees_first", [False, True], ids=["while_it_waits", "as_its_slot_comes_up"])
def test_a_cancelled_waiter_leaves_the_queue_and_keeps_no_slot(slot_frees_first: bool) -> None:
    # As its slot comes up: a queued client hangs up in the same turn of the event loop as the slot
    # frees, so the waiter is cancelled after its slot was handed over, and must pass it on.
    async def scenario() -> None:
        admission = Admission("m", concurrency=1, max_queue=1, timeout_s=5)
        held = await admission.acquire()
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        if slot_frees_first:
            held.release()
        waiter.cancel()
        (outcome,) = await asyncio.gather(waiter, return_exceptions=True)
        assert isinstance(outcome, asyncio.CancelledError)
        assert admission.queued == 0
        held.release()  # only a ticket's first release counts
        assert admission.active == 0
        (await admission.acquire()).release()

    asyncio.run(scenario())


def test_gate_serves_first_sentences_first() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def blocker() -> None:
        with gate.hold(0):
            holding.set()
            release.wait()

    def worker(name: str, priority: int) -> None:
        with gate.hold(priority):
            order.append(name)

    threads = [threading.Thread(target=blocker)]
    threads[0].start()
    assert holding.wait(5)
    for queued, (name, priority) in enumerate((("late-3", 3), ("b-0", 0), ("c-1", 1), ("d-0", 0)), start=1):
        threads.append(threading.Thread(target=worker, args=(name, priority)))
        threads[-1].start()
        wait_for(lambda n=queued: gate.waiting == n, 5, interval=0.001)  # type: ignore[misc]
    release.set()
    for t in threads:
        t.join()
    assert order == ["b-0", "d-0", "c-1", "late-3"]


def test_retry_after_comes_from_the_measured_service_time() -> None:
    async def scenario() -> None:
        admission = Admission("m", concurrency=1, max_queue=3, timeout_s=60)
        admission._record_service(2.0)  # a request that held its slot for 2 s
        running = await admission.acquire()
        waiters = [asyncio.create_task(admission.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as refused:
            await admission.acquire()
        # Three waiting and one half done, 2 s each, one at a time: 9 s, not a guess.
        assert refused.value.headers["Retry-After"] == "9"
        for waiter in waiters:
            waiter.cancel()
        running.release()

    asyncio.run(scenario())


def test_background_work_waits_behind_every_request_and_leaves_a_slot_free() -> None:
    async def scenario() -> None:
        admission = Admission("m", concurrency=2, max_queue=4, timeout_s=5)
        job = await admission.acquire_background()
        # A second background holder would take the last slot: it waits, and a request does not.
        second_job = asyncio.create_task(admission.acquire_background())
        await asyncio.sleep(0)
        assert not second_job.done()
        request = await asyncio.wait_for(admission.acquire(), 1)
        waiting = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0)
        # The job's slot comes free: the waiting request takes it, not the waiting job.
        job.release()
        taken = await asyncio.wait_for(waiting, 1)
        assert not second_job.done()
        request.release()
        taken.release()
        (await asyncio.wait_for(second_job, 1)).release()
        # A job that stops waiting leaves nothing held.
        held = [await admission.acquire(), await admission.acquire()]
        gone = asyncio.create_task(admission.acquire_background())
        await asyncio.sleep(0)
        gone.cancel()
        for ticket in held:
            ticket.release()
        await asyncio.sleep(0)
        assert admission.active == 0 and admission.background_active == 0

    asyncio.run(scenario())
