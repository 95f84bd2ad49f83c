"""What every task of the core shares: a name resolved to a served model, its engines loaded, and a slot."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import TypeVar

from engines.base import Diarizer, Synthesizer, Transcriber
from engines.loader import ModelLoader, place, requests_at_once
from engines.models.inventory import Installed
from engines.models.registry import ModelEntry, Registry
from server import requestlog
from server.cancel import Cancellation, ClientGone
from server.config import Settings
from server.core.admission import Admission, Ticket, synthesis_concurrency
from server.core.served import Served
from server.errors import ApiError, bad_request, model_not_found, model_not_installed, quoted
from server.metrics import Metrics
from server.threads import run_blocking

T = TypeVar("T")


class Models:
    """The registry as served here, the loader, and one admission queue per model."""

    def __init__(self, settings: Settings, registry: Registry, loader: ModelLoader, metrics: Metrics) -> None:
        self.settings = settings
        self.registry = registry
        self.loader = loader
        self.metrics = metrics
        self.served = Served(registry, loader.engines.installed(registry), settings.allow_download)
        self.admissions = {slug: self._admission(entry) for slug, entry in registry.models.items()}
        metrics.watch(self.admissions, loader)

    def reload(self, registry: Registry, installed: Installed) -> None:
        """Serve a changed registry: a model pulled or removed while the server runs (`installed`
        looked up off the event loop). Models already known keep their queues; new ones get theirs."""
        for slug, entry in registry.models.items():
            if slug not in self.admissions:
                admission = self._admission(entry)
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

    async def transcriber(self, entry: ModelEntry) -> Transcriber:
        return await self._load(lambda: self.loader.transcriber(entry), entry)

    async def synthesizer(self, voice: str, entry: ModelEntry) -> Synthesizer:
        return await self._load(lambda: self.loader.synthesizer(voice, entry), entry)

    def diarization(self) -> ModelEntry:
        """The installed diarization model (the first one in the registry that is usable)."""
        entries = [entry for entry in self.registry.models.values() if entry.task == "diarization"]
        for entry in entries:
            if self.served.usable(entry):
                return entry
        if entries:
            raise model_not_installed(entries[0])
        raise ApiError(404, "model_not_found", "No diarization model is configured in models.toml", "model")

    async def diarizer(self) -> Diarizer:
        entry = self.diarization()
        return await self._load(lambda: self.loader.diarizer(entry), entry)

    async def _load(self, load: Callable[[], T], entry: ModelEntry) -> T:
        try:
            return await run_blocking(load)
        except Exception as exc:  # onnxruntime's load errors derive from Exception alone
            raise ApiError(503, "model_unavailable", f"{entry.slug} could not be loaded: {exc}", "model") from exc

    async def admit(self, entry: ModelEntry, cancel: Cancellation, background: bool = False) -> Ticket:
        """A slot, waited for no longer than the model's `timeout_s` and the request's deadline allow;
        background work waits behind every request, for as long as it takes."""
        cancel.check()
        admission = self.admissions[entry.slug]
        # Waiting in the queue ends when a slot comes up or when the client hangs up, whichever is
        # first: a client that left gives its place to the next one at once.
        acquiring = asyncio.ensure_future(
            admission.acquire_background() if background else admission.acquire(timeout_s=cancel.remaining)
        )
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

    def _admission(self, entry: ModelEntry) -> Admission:
        return Admission(entry.slug, self._concurrency(entry), entry.limits.max_queue, entry.limits.timeout_s)

    def _concurrency(self, entry: ModelEntry) -> int:
        if entry.limits.concurrency:
            return entry.limits.concurrency
        cpus = os.cpu_count() or 1
        if entry.task == "transcription":
            return requests_at_once(entry, place(entry, self.loader.has_cuda), cpus)
        if entry.task == "diarization":
            # Diarization runs inside a transcription's slot; this queue is never waited on.
            return cpus
        return synthesis_concurrency(self.loader.synthesis_device(entry), cpus)
