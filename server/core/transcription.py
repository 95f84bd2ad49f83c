"""Transcription on the core: audio from a file or from samples, decoded once, transcribed, then the steps after it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import anyio
import numpy as np

from engines.audio.decode import WHISPER_RATE, AudioTooLong, UndecodableAudio, decode, from_samples
from engines.base import LANGUAGES, Segment, Transcriber, TranscriptInfo, TranscriptionOptions
from engines.models.registry import ModelEntry
from server import requestlog
from server.cancel import Cancellation
from server.core.models import Models
from server.core.requests import Samples, TranscribeRequest, TranscriptStream
from server.errors import ApiError, bad_request, invalid, quoted
from server.threads import iterate_in_thread, run_blocking

StepWork = Callable[[np.ndarray, TranscriptInfo, Iterator[Segment]], Iterator[Segment]]
"""A step's work for one request: with the request's audio (16 kHz mono float32) still at hand, it
takes the segments as they come and gives back segments, in the same worker thread."""


class TranscriptStep(Protocol):
    """Work after transcription that a request may ask for (telling speakers apart)."""

    async def prepare(self, request: TranscribeRequest) -> StepWork | None:
        """None where the request does not ask for this step; else its work, with what it needs loaded
        and checked now, before the request is admitted (so that its errors come before any response)."""
        ...


class Transcription:
    def __init__(self, models: Models, threads: anyio.CapacityLimiter, steps: Sequence[TranscriptStep] = ()) -> None:
        self.models = models
        self.steps = tuple(steps)
        self._threads = threads

    async def transcribe(
        self, request: TranscribeRequest, cancel: Cancellation
    ) -> tuple[TranscriptInfo, list[Segment]]:
        stream = await self.stream(request, cancel)
        return stream.info, [segment async for segment in stream.segments]

    async def stream(self, request: TranscribeRequest, cancel: Cancellation) -> TranscriptStream:
        """Decode and start transcribing; errors in the audio surface here, before any response starts.

        The model's `timeout_s` bounds the wait for a slot; the work then has a budget that grows
        with the audio's length (see `budget_s`). Segments come from one worker thread that checks
        `cancel` between them, so a client that hangs up (or work past its budget) stops at the
        next segment. Background work (a job's window) waits behind every request and has no budget.
        """
        models = self.models
        entry = models.model(request.model, "transcription")
        transcriber = await self._transcriber_for(entry, request.options)
        works = [work for step in self.steps if (work := await step.prepare(request)) is not None]
        background = request.options.background
        ticket = await models.admit(entry, cancel, background)
        granted = time.monotonic()
        started = time.perf_counter()
        record = requestlog.current()

        def start() -> tuple[np.ndarray, TranscriptInfo, Iterator[Segment]]:
            audio = self._audio(request)
            seconds = len(audio) / WHISPER_RATE
            if record is not None:
                record.audio_seconds = round(seconds, 3)
            whole = request.diarization.whole_limit_s if request.diarization else None
            if whole is not None and seconds > whole:
                # OpenAI's diarize model reads longer audio only in chunks it is told to make.
                raise bad_request(
                    "invalid_value",
                    f"chunking_strategy is required for diarization models when the audio is longer than {whole:g} s "
                    f"(this is {seconds:.1f} s); send chunking_strategy=auto",
                    "chunking_strategy",
                )
            if not background:
                budget = self.budget_s(seconds)
                cancel.budget(granted, budget, _over_budget(seconds, budget))
            cancel.check()
            with models.loader.in_use(transcriber):
                info, segments = transcriber.stream(audio, request.options)
            return audio, info, segments

        try:
            audio, info, segments = await run_blocking(start)
        except BaseException:
            ticket.release()
            raise

        def items(stop: threading.Event) -> Iterator[Segment]:
            with models.loader.in_use(transcriber), _closed_after(segments):
                found: Iterator[Segment] = segments
                for work in works:
                    found = work(audio, info, found)
                for segment in found:
                    if stop.is_set():
                        return
                    cancel.check()
                    yield segment
            models.metrics.processed(entry.slug, "transcription", info.duration, time.perf_counter() - started)

        return TranscriptStream(info=info, segments=iterate_in_thread(items, ticket.release, self._threads))

    def budget_s(self, audio_seconds: float) -> float:
        """How long a request's work may take once it has its slot: a base, and time in proportion to
        its audio (settings `work_base_s`, `work_per_audio_s`)."""
        settings = self.models.settings
        return settings.work_base_s + settings.work_per_audio_s * audio_seconds

    async def check(self, request: TranscribeRequest) -> ModelEntry:
        """The model a request names, loaded, and its options checked against it: what a job checks
        when it is submitted, before its audio is stored."""
        entry = self.models.model(request.model, "transcription")
        await self._transcriber_for(entry, request.options)
        return entry

    async def _transcriber_for(self, entry: ModelEntry, options: TranscriptionOptions) -> Transcriber:
        language = options.language
        if language is not None and language not in LANGUAGES:
            raise invalid("language", f"{quoted(language)} is not an ISO-639-1 language code Whisper knows")
        transcriber = await self.models.transcriber(entry)
        if language not in (None, "en") and not transcriber.multilingual:
            raise bad_request(
                "unsupported_language",
                f"'{entry.slug}' is English-only and cannot transcribe {quoted(language)}; "
                "use a multilingual model such as whisper-1",
                "language",
            )
        if options.task == "translate" and not transcriber.multilingual:
            raise bad_request("unsupported_model", f"'{entry.slug}' is English-only and cannot translate", "model")
        return transcriber

    def _audio(self, request: TranscribeRequest) -> np.ndarray:
        """The request's audio as 16 kHz mono float32, from its file or its samples."""
        limit = self.models.settings.max_audio_seconds
        source = request.audio
        try:
            if isinstance(source, Samples):
                return from_samples(source.audio, source.rate, limit)
            source.seek(0)
            return decode(source, limit)
        except (UndecodableAudio, AudioTooLong) as exc:
            raise audio_error(exc) from exc


def audio_error(exc: UndecodableAudio | AudioTooLong) -> ApiError:
    """What a client is told of audio the server refuses, on every route that takes a file."""
    if isinstance(exc, AudioTooLong):
        return bad_request("audio_too_long", f"The {exc}", "file")
    return ApiError(415, "unsupported_audio", f"The file is not audio this server can decode: {exc}", "file")


JOBS_ROUTE = "POST /v1/inference/audio/jobs"


def _over_budget(audio_seconds: float, budget_s: float) -> ApiError:
    """Retrying cannot help work that takes longer than its budget: no Retry-After, and the OpenAI
    clients' own retries are told not to (`x-should-retry`)."""
    return ApiError(
        503,
        "work_timeout",
        f"Transcribing {audio_seconds:.0f} s of audio ran past its budget of {budget_s:.0f} s on this server; "
        f"retrying will not help. Submit long recordings as a job ({JOBS_ROUTE}), which has no time limit "
        "and reports its progress",
        headers={"x-should-retry": "false"},
    )


@contextlib.contextmanager
def _closed_after(segments: Iterator[Segment]) -> Iterator[None]:
    """A transcript left early (the client went, the deadline passed) stops its decoding at once."""
    try:
        yield
    finally:
        close = getattr(segments, "close", None)
        if close is not None:
            close()
