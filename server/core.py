"""The one core every surface calls: resolve the model, validate, admit, run the engine off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import BinaryIO, TypeVar

import anyio
import numpy as np

from engines.audio_decode import WHISPER_RATE, AudioTooLong, UndecodableAudio, decode
from engines.audio_encode import FORMATS, Bitrates
from engines.inventory import Installed
from engines.loader import ModelLoader, batching_for, place
from engines.normalize import normalize
from engines.registry import ModelEntry, Registry
from engines.synthesizer import Pauses, Piece, Synthesizer, VoiceSettings
from engines.text import speakable
from engines.transcriber import LANGUAGES, Segment, Transcriber, TranscriptInfo, TranscriptionOptions
from server import requestlog
from server.admission import Admission, Ticket, synthesis_concurrency
from server.cancel import Cancellation, ClientGone
from server.config import Settings
from server.errors import ApiError, bad_request, invalid, model_not_found, model_not_installed, quoted
from server.gate import PriorityGate
from server.jobs import Speech, SpeechRequest, TranscribeRequest, TranscriptStream
from server.metrics import Metrics
from server.served import Served
from server.speech import SpeechJob
from server.threads import iterate_in_thread, run_blocking
from server.uploads import Pace, Uploads

MIN_SPEED, MAX_SPEED = 0.25, 4.0
T = TypeVar("T")


class Core:
    def __init__(self, settings: Settings, registry: Registry, loader: ModelLoader, metrics: Metrics) -> None:
        self.settings = settings
        self.registry = registry
        self.loader = loader
        self.metrics = metrics
        self.served = Served(registry, loader.engines.installed(registry), settings.allow_download)
        self.uploads = Uploads(settings.max_uploads, settings.max_spool_bytes)
        self.pace = Pace(settings.body_idle_timeout_s, settings.min_upload_kbps * 1024, settings.upload_grace_s)
        self._pauses = Pauses(settings.sentence_pause_s, settings.paragraph_pause_s)
        self._bitrates = Bitrates(settings.mp3_kbps, settings.opus_kbps, settings.aac_kbps)
        self.admissions = {
            slug: Admission(slug, self._concurrency(entry), entry.limits.max_queue, entry.limits.timeout_s)
            for slug, entry in registry.models.items()
        }
        metrics.watch(self.admissions, loader)
        # One gate per device: every voice on the CPU shares the same cores.
        self._render_gates = {"cpu": PriorityGate(1), "cuda": PriorityGate(4)}
        # Streams hold a thread for their whole life; they get their own pool so that
        # decoding, loading and upload spooling never queue behind them.
        self._stream_threads = anyio.CapacityLimiter(sum(a.concurrency for a in self.admissions.values()))

    # ------------------------------------------------------------ models

    def reload(self, registry: Registry, installed: Installed) -> None:
        """Serve a changed registry: a model pulled or removed while the server runs (`installed`
        looked up off the event loop). Models already known keep their queues; new ones get theirs."""
        for slug, entry in registry.models.items():
            if slug not in self.admissions:
                admission = Admission(slug, self._concurrency(entry), entry.limits.max_queue, entry.limits.timeout_s)
                self.metrics.watch_admission(admission)
                self.admissions[slug] = admission
        self.loader.registry = registry
        self.served = Served(registry, installed, self.settings.allow_download)
        self.registry = registry

    def model(self, slug: str, task: str) -> ModelEntry:
        entry = self.registry.resolve(slug)
        if entry is None:
            raise model_not_found(slug)
        if entry.task != task:
            raise bad_request(
                "unsupported_model", f"{quoted(slug)} is a {entry.task} model, not a {task} model", "model"
            )
        if not self.served.usable(entry):
            raise model_not_installed(entry)
        record = requestlog.current()
        if record is not None:
            record.model = entry.slug
        return entry

    async def load_transcriber(self, entry: ModelEntry) -> Transcriber:
        return await self._load(lambda: self.loader.transcriber(entry), entry)

    async def load_synthesizer(self, voice: str, entry: ModelEntry) -> Synthesizer:
        return await self._load(lambda: self.loader.synthesizer(voice, entry), entry)

    async def _load(self, load: Callable[[], T], entry: ModelEntry) -> T:
        try:
            return await run_blocking(load)
        except Exception as exc:  # onnxruntime's load errors derive from Exception alone
            raise ApiError(503, "model_unavailable", f"{entry.slug} could not be loaded: {exc}", "model") from exc

    async def _admit(self, entry: ModelEntry, cancel: Cancellation) -> Ticket:
        """A slot, waited for no longer than the request's deadline allows."""
        cancel.check()
        # Waiting in the queue ends when a slot comes up or when the client hangs up, whichever is
        # first: a client that left gives its place to the next one at once.
        acquiring = asyncio.ensure_future(self.admissions[entry.slug].acquire(timeout_s=cancel.remaining))
        leaving = asyncio.ensure_future(cancel.left.wait())
        await asyncio.wait({acquiring, leaving}, return_when=asyncio.FIRST_COMPLETED)
        leaving.cancel()
        if not acquiring.done():
            acquiring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquiring
            raise ClientGone
        ticket = acquiring.result()
        try:
            # The client left while queued (its work never starts), or the time ran out.
            cancel.check()
        except BaseException:
            ticket.release()
            raise
        record = requestlog.current()
        if record is not None:
            record.queue_wait_s = round(ticket.waited, 4)
        return ticket

    # ------------------------------------------------------------ transcription

    async def transcribe(
        self, request: TranscribeRequest, cancel: Cancellation
    ) -> tuple[TranscriptInfo, list[Segment]]:
        stream = await self.transcribe_stream(request, cancel)
        return stream.info, [segment async for segment in stream.segments]

    async def transcribe_stream(self, request: TranscribeRequest, cancel: Cancellation) -> TranscriptStream:
        """Decode and start transcribing; errors in the upload surface here, before any response starts.

        Segments then come from one worker thread that checks `cancel` between them, so a
        client that hangs up (or a request past its deadline) stops at the next segment.
        """
        entry = self.model(request.model, "transcription")
        cancel.limit(entry.limits.timeout_s)
        transcriber = await self._transcriber_for(entry, request.options)
        ticket = await self._admit(entry, cancel)
        started = time.perf_counter()
        options = request.options

        record = requestlog.current()

        def start() -> tuple[TranscriptInfo, Iterator[Segment]]:
            audio = self._decode(request.file)
            if record is not None:
                record.audio_seconds = round(len(audio) / WHISPER_RATE, 3)
            cancel.check()
            with self.loader.in_use(transcriber):
                return transcriber.stream(audio, options)

        try:
            info, segments = await run_blocking(start)
        except BaseException:
            ticket.release()
            raise

        def items(stop: threading.Event) -> Iterator[Segment]:
            with self.loader.in_use(transcriber), _closed_after(segments):
                for segment in segments:
                    if stop.is_set():
                        return
                    cancel.check()
                    yield segment
            self.metrics.processed(entry.slug, "transcription", info.duration, time.perf_counter() - started)

        return TranscriptStream(info=info, segments=iterate_in_thread(items, ticket.release, self._stream_threads))

    async def _transcriber_for(self, entry: ModelEntry, options: TranscriptionOptions) -> Transcriber:
        language = options.language
        if language is not None and language not in LANGUAGES:
            raise invalid("language", f"{quoted(language)} is not an ISO-639-1 language code Whisper knows")
        transcriber = await self.load_transcriber(entry)
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

    def _decode(self, file: BinaryIO) -> np.ndarray:
        file.seek(0)
        try:
            return decode(file, self.settings.max_audio_seconds)
        except UndecodableAudio as exc:
            raise ApiError(
                415, "unsupported_audio", f"The file is not audio this server can decode: {exc}", "file"
            ) from exc
        except AudioTooLong as exc:
            raise bad_request("audio_too_long", f"The {exc}", "file") from exc

    # ------------------------------------------------------------ synthesis

    async def synthesize(self, request: SpeechRequest, cancel: Cancellation) -> Speech:
        """Everything that can fail is checked before the first byte is produced."""
        requested = time.perf_counter()
        text = request.input
        if not text.strip():
            raise bad_request("empty_input", "'input' is empty; give the text to speak", "input")
        if len(text) > self.settings.max_input_chars:
            raise bad_request(
                "input_too_long",
                f"'input' has {len(text)} characters; the limit is {self.settings.max_input_chars}",
                "input",
            )
        audio_format = FORMATS.get(request.response_format)
        if audio_format is None:
            raise invalid("response_format", f"'response_format' must be one of {', '.join(FORMATS)}")
        if not MIN_SPEED <= request.speed <= MAX_SPEED:
            raise bad_request("speed_out_of_range", f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}", "speed")
        entry = self.model(request.model, "synthesis")
        cancel.limit(entry.limits.timeout_s)
        mapping = self.served.voice(request.voice)
        if mapping is None:
            names = ", ".join(self.served.voice_names())
            known = request.voice in self.registry.voice_map or request.voice in self.registry.voices
            why = (
                f"The voice {quoted(request.voice)} is not installed here "
                f"(`python -m server models pull {request.voice}` installs a Piper voice)"
                if known
                else f"Unknown voice {quoted(request.voice)}"
            )
            raise bad_request("voice_not_found", f"{why}; choose one of {names}", "voice")
        synthesizer = await self.load_synthesizer(mapping.voice, entry)
        if request.speaker is not None:
            mapping = replace(mapping, speaker_id=_speaker_id(synthesizer, request.speaker, request.voice))
        if mapping.speaker_id is not None and mapping.speaker_id >= synthesizer.num_speakers:
            raise bad_request("voice_not_found", f"voice {quoted(request.voice)} names a missing speaker", "voice")
        normalizing = self.settings.normalize_text if request.normalize is None else request.normalize

        def prepare() -> list[Piece]:
            # Cleaning, spelling out and phonemizing up to 4096 characters: one hop off the event loop.
            spoken = speakable(text)
            if normalizing:
                spoken = normalize(spoken, synthesizer.language, read_emoji=request.read_emoji)
            return synthesizer.pieces(spoken, self._pauses)

        pieces = await run_blocking(prepare)
        if not pieces:
            raise bad_request("empty_input", "'input' has nothing to speak (only punctuation or symbols)", "input")
        job = SpeechJob(
            synthesizer=synthesizer,
            pieces=pieces,
            settings=VoiceSettings(
                speaker_id=mapping.speaker_id,
                length_scale=mapping.length_scale,
                noise_scale=mapping.noise_scale,
                noise_w_scale=mapping.noise_w_scale,
            ),
            speed=request.speed,
            format_name=audio_format.name,
            bitrates=self._bitrates,
            gate=self._render_gates[self.loader.synthesis_device(entry)],
            cancel=cancel,
            in_use=self.loader.in_use,
        )
        ticket = await self._admit(entry, cancel)

        def finished() -> None:
            ticket.release()
            self.metrics.processed(entry.slug, "synthesis", job.audio_seconds, time.perf_counter() - requested)

        chunks = iterate_in_thread(job.run, finished, self._stream_threads)
        return Speech(format=audio_format, chunks=self._observed(chunks, job, entry.slug, requested))

    async def _observed(
        self, chunks: AsyncIterator[bytes], job: SpeechJob, slug: str, started: float
    ) -> AsyncIterator[bytes]:
        """Times the first byte, and tells the request's log line how much audio was sent."""
        record = requestlog.current()
        first = True
        try:
            async for chunk in chunks:
                if first:
                    self.metrics.first_byte.labels(model=slug).observe(time.perf_counter() - started)
                    first = False
                yield chunk
        finally:
            if record is not None:
                record.audio_seconds = round(job.audio_seconds, 3)

    def _concurrency(self, entry: ModelEntry) -> int:
        if entry.limits.concurrency:
            return entry.limits.concurrency
        cpus = os.cpu_count() or 1
        if entry.task == "transcription":
            # Enough requests at once to fill every worker's batch.
            batching, _ = batching_for(entry, place(entry, self.loader.has_cuda), cpus)
            return batching.batch_size * batching.workers
        return synthesis_concurrency(self.loader.synthesis_device(entry), cpus)


@contextlib.contextmanager
def _closed_after(segments: Iterator[Segment]) -> Iterator[None]:
    """A transcript left early (the client went, the deadline passed) stops its decoding at once."""
    try:
        yield
    finally:
        close = getattr(segments, "close", None)
        if close is not None:
            close()


def _speaker_id(synthesizer: Synthesizer, speaker: str, voice: str) -> int:
    """A speaker by its name in the voice's speaker map, or by its number."""
    known = synthesizer.voice.config.speaker_id_map
    if speaker in known:
        return int(known[speaker])
    if speaker.isdigit():
        return int(speaker)
    raise bad_request("voice_not_found", f"The voice {quoted(voice)} has no speaker {quoted(speaker)}", "voice")
