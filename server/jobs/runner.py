"""The replica's job worker: it claims jobs from the store, transcribes them window by window through
the core (behind every interactive request), stores each window as it finishes, and renews its lease
while it works. A job whose worker died is taken up by the next claim, after its last stored window."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from engines.audio.decode import WHISPER_RATE, UndecodableAudio
from engines.audio.windows import samples, windows
from engines.base import Diarization, KnownSpeaker, Segment
from server.cancel import Cancellation, ClientGone
from server.core import Core
from server.core.requests import DiarizeRequest, Samples, TranscribeRequest
from server.errors import ApiError
from server.jobs.store import Job, JobStore, LeaseLost, Speakers, Window
from server.threads import run_blocking

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""A job whose worker died this many times (each claim that never finished) fails instead."""
POLL_S = 1.0
"""How often an idle worker looks for jobs submitted to other replicas."""
SEARCH_S = 10.0
"""A window ends at the quietest moment of its last seconds."""


class JobRunner:
    def __init__(self, core: Core, store: JobStore) -> None:
        self.core = core
        self.store = store
        settings = core.settings
        self.lease_s = settings.jobs_lease_s
        self.slots = settings.jobs_workers
        self.retention_s = settings.jobs_retention_h * 3600
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._wake = asyncio.Event()
        self._running: dict[str, Cancellation] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A job was submitted here: look at once rather than at the next poll."""
        self._wake.set()

    def stop(self, job_id: str) -> None:
        """The job was deleted: if it runs here, its window stops now."""
        cancel = self._running.get(job_id)
        if cancel is not None:
            cancel.leave()

    async def run(self) -> None:
        """Claim and run jobs until cancelled (at shutdown, when running jobs are handed back)."""
        sweep_every = min(300.0, max(0.5, self.retention_s / 4))
        next_sweep = 0.0
        try:
            while True:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + sweep_every
                    await self._sweep()
                if len(self._tasks) < self.slots:
                    job = await self._claim()
                    if job is not None:
                        task = asyncio.create_task(self._run(job))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                        continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(POLL_S, max(0.1, next_sweep - time.monotonic())))
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _claim(self) -> Job | None:
        try:
            return await run_blocking(lambda: self.store.claim(self.worker, self.lease_s, MAX_ATTEMPTS))
        except Exception as exc:  # the database is away for a moment: try again at the next poll
            log.warning("jobs: could not claim a job: %s", exc)
            return None

    async def _sweep(self) -> None:
        try:
            gone = await run_blocking(lambda: self.store.expire(time.time() - self.retention_s))
        except Exception as exc:
            log.warning("jobs: could not delete expired jobs: %s", exc)
            return
        if gone:
            log.info("jobs: deleted %d finished jobs past their retention", gone)

    async def _run(self, job: Job) -> None:
        metrics = self.core.metrics
        metrics.jobs_running.inc()
        cancel = Cancellation()
        self._running[job.id] = cancel
        renewing = asyncio.create_task(self._renew(job.id, cancel))
        try:
            if job.chunks_done:
                log.info("jobs: %s resumes at %.1f s (window %d)", job.id, job.audio_seconds_done, job.chunks_done)
            total = await self._transcribe(job, cancel)
            await run_blocking(lambda: self.store.finish(job.id, self.worker, "succeeded", total_s=total))
            metrics.jobs_finished.labels(state="succeeded").inc()
        except (LeaseLost, ClientGone):
            log.info("jobs: %s is no longer this worker's (deleted, or taken over)", job.id)
        except asyncio.CancelledError:
            cancel.leave()
            with contextlib.suppress(Exception):
                await asyncio.shield(run_blocking(lambda: self.store.release(job.id, self.worker)))
            raise
        except Exception as exc:
            error = _error(exc)
            if not isinstance(exc, ApiError | UndecodableAudio):
                log.exception("jobs: %s failed", job.id)
            with contextlib.suppress(LeaseLost):
                await run_blocking(lambda: self.store.finish(job.id, self.worker, "failed", error=error))
            metrics.jobs_finished.labels(state="failed").inc()
        finally:
            renewing.cancel()
            self._running.pop(job.id, None)
            metrics.jobs_running.dec()

    async def _renew(self, job_id: str, cancel: Cancellation) -> None:
        """Renew the lease a few times per lease; a lost one stops the window being transcribed."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await run_blocking(lambda: self.store.renew(job_id, self.worker, self.lease_s))
            except LeaseLost:
                cancel.leave()
                return
            except Exception as exc:  # the database is away for a moment; the lease has time left
                log.warning("jobs: could not renew the lease on %s: %s", job_id, exc)

    async def _transcribe(self, job: Job, cancel: Cancellation) -> float:
        """Transcribe the job from its next window on; returns the audio's length in seconds."""
        settings = self.core.settings
        length = int(settings.jobs_window_s * WHISPER_RATE)
        search = int(min(SEARCH_S, settings.jobs_window_s / 4) * WHISPER_RATE)
        reader = self.store.audio(job.id, job.audio_bytes)
        pieces: Iterator[np.ndarray] = windows(samples(reader, job.next_sample), length, search)
        position, index = job.next_sample, job.chunks_done
        language, probability = job.language, job.language_probability or 0.0
        speakers = job.speakers
        limit = int(settings.max_job_audio_seconds * WHISPER_RATE)
        while (audio := await run_blocking(lambda: next(pieces, None))) is not None:
            if position + len(audio) > limit:
                raise ApiError(
                    400,
                    "audio_too_long",
                    f"The audio lasts longer than the {limit // WHISPER_RATE} s a job may have",
                    "file",
                )
            # After the first window the language is the job's: each window does not guess it anew.
            options = replace(job.options, background=True, language=job.options.language or language)
            heard: list[Diarization] = []
            whole = position == 0 and (job.audio_seconds_total or float("inf")) * WHISPER_RATE <= length
            diarizing = _diarizing(speakers, whole, heard.append) if speakers else None
            request = TranscribeRequest(job.model, Samples(audio, WHISPER_RATE), options, diarizing)
            info, segments = await self.core.transcribe(request, cancel)
            if speakers and heard:
                speakers = _learned(speakers, heard[-1])
            if language is None:
                language, probability = info.language, info.language_probability
            start_s = position / WHISPER_RATE
            window = Window(
                index, start_s, (position + len(audio)) / WHISPER_RATE, [_shift(s, start_s) for s in segments]
            )
            position += len(audio)
            index += 1
            done_s = position / WHISPER_RATE
            save = functools.partial(
                self.store.save_window,
                job.id,
                self.worker,
                self.lease_s,
                window,
                position,
                done_s,
                language or "en",
                probability,
                speakers,
            )
            await run_blocking(save)
            self.core.metrics.jobs_audio_seconds.inc(len(audio) / WHISPER_RATE)
        if index == 0:
            raise UndecodableAudio("the file holds no audio samples")
        return position / WHISPER_RATE


def _shift(segment: Segment, by: float) -> Segment:
    """A window's segment, timed from the start of the whole recording."""
    return replace(
        segment,
        start=round(segment.start + by, 3),
        end=round(segment.end + by, 3),
        seek=segment.seek + round(by * 100),
        words=tuple(replace(w, start=round(w.start + by, 3), end=round(w.end + by, 3)) for w in segment.words),
    )


def _diarizing(speakers: Speakers, whole: bool, heard: Callable[[Diarization], None]) -> DiarizeRequest:
    """A window's diarization: the speakers known so far are recognised by name. A window of a long
    recording may hear fewer people than the whole has, so there the counts bound it from above."""
    known = tuple(KnownSpeaker(name, np.array(voice, dtype=np.float32)) for name, voice in speakers.known)
    if whole:
        counts = (speakers.num_speakers, speakers.min_speakers, speakers.max_speakers)
    else:
        counts = (None, None, speakers.num_speakers or speakers.max_speakers)
    return DiarizeRequest(*counts, known=known, heard=heard)


def _learned(speakers: Speakers, diarization: Diarization) -> Speakers:
    """The speakers known after a window: a new one is added by the voice print it was found with; one
    already known keeps the print it was first known by, so that a name never drifts to another voice."""
    names = {name for name, _ in speakers.known}
    found = tuple(
        (name, tuple(float(x) for x in voice)) for name, voice in diarization.voices.items() if name not in names
    )
    return replace(speakers, known=speakers.known + found)


def _error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ApiError):
        return exc.code, exc.message
    if isinstance(exc, UndecodableAudio):
        return "unsupported_audio", f"The file is not audio this server can decode: {exc}"
    return "internal_error", f"The job stopped on an unexpected error ({type(exc).__name__}); see the server's log"
