"""The one core every surface calls: models resolved and admitted once, then transcription or synthesis."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from engines.base import Segment, Synthesizer, Transcriber, TranscriptInfo
from engines.loader import ModelLoader
from engines.models.inventory import Installed
from engines.models.registry import ModelEntry, Registry
from server.cancel import Cancellation
from server.config import Settings
from server.core.admission import Admission
from server.core.diarization import Diarize
from server.core.models import Models
from server.core.requests import Speech, SpeechRequest, TranscribeRequest, TranscriptStream
from server.core.served import Served
from server.core.synthesis import Synthesis
from server.core.transcription import Transcription, TranscriptStep
from server.metrics import Metrics
from server.uploads import Pace, Uploads


class Core:
    """What HTTP, Wyoming and any other front door share: the same models, queues, threads and metrics."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        loader: ModelLoader,
        metrics: Metrics,
        steps: Sequence[TranscriptStep] = (),
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.models = Models(settings, registry, loader, metrics)
        self.uploads = Uploads(settings.max_uploads, settings.max_spool_bytes)
        self.pace = Pace(settings.body_idle_timeout_s, settings.min_upload_kbps * 1024, settings.upload_grace_s)
        # Streams hold a thread for their whole life; they get their own pool so that
        # decoding, loading and upload spooling never queue behind them.
        threads = anyio.CapacityLimiter(sum(a.concurrency for a in self.models.admissions.values()))
        self.transcription = Transcription(self.models, threads, [Diarize(self.models), *steps])
        self.synthesis = Synthesis(self.models, threads)

    # What the surfaces read of the models.

    @property
    def registry(self) -> Registry:
        return self.models.registry

    @property
    def served(self) -> Served:
        return self.models.served

    @property
    def loader(self) -> ModelLoader:
        return self.models.loader

    @property
    def admissions(self) -> dict[str, Admission]:
        return self.models.admissions

    def model(self, slug: str, task: str) -> ModelEntry:
        return self.models.model(slug, task)

    def reload(self, registry: Registry, installed: Installed) -> None:
        self.models.reload(registry, installed)

    async def load_transcriber(self, entry: ModelEntry) -> Transcriber:
        return await self.models.transcriber(entry)

    async def load_synthesizer(self, voice: str, entry: ModelEntry) -> Synthesizer:
        return await self.models.synthesizer(voice, entry)

    # The tasks.

    async def transcribe(
        self, request: TranscribeRequest, cancel: Cancellation
    ) -> tuple[TranscriptInfo, list[Segment]]:
        return await self.transcription.transcribe(request, cancel)

    async def transcribe_stream(self, request: TranscribeRequest, cancel: Cancellation) -> TranscriptStream:
        return await self.transcription.stream(request, cancel)

    async def synthesize(self, request: SpeechRequest, cancel: Cancellation) -> Speech:
        return await self.synthesis.synthesize(request, cancel)
