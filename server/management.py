"""Runtime model management, off unless AUDIO_ALLOW_DOWNLOAD=1 and API keys are configured:
`POST /v1/models/{id}` pulls in the background, `GET` shows its progress, `DELETE` removes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from engines.models import catalog, store
from engines.models.registry_files import load_document, load_registry
from engines.models.sources import ModelSourceError
from server.core import Core
from server.errors import ApiError, bad_request, model_not_found
from server.threads import run_blocking


@dataclass
class PullJob:
    name: str
    """As asked for: `small`, `en_US-amy-medium`, ..."""
    slug: str
    state: str = "pulling"
    """pulling, installed or failed."""
    file: str = ""
    done_bytes: int = 0
    total_bytes: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)

    def view(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "file": self.file,
            "bytes": self.done_bytes,
            "total_bytes": self.total_bytes,
            "error": self.error,
            "started": round(self.started, 3),
        }


class Management:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.jobs: dict[str, PullJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        settings = self.core.settings
        return settings.allow_download and bool(settings.api_keys)

    def job(self, name: str) -> PullJob | None:
        entry = self.core.registry.resolve(name)
        slug = entry.slug if entry is not None else name
        return next((j for j in self.jobs.values() if name in (j.name, j.slug) or j.slug == slug), None)

    def check_enabled(self) -> None:
        if not self.enabled:
            raise ApiError(
                403,
                "management_disabled",
                "Managing models over HTTP is off; it needs AUDIO_ALLOW_DOWNLOAD=1 and API keys "
                "(or use `python -m server models` on the server's machine)",
            )

    def start_pull(self, name: str) -> PullJob:
        try:
            spec = catalog.resolve(name)
        except ValueError as exc:
            raise bad_request("invalid_value", str(exc), "model") from None
        running = self.jobs.get(spec.name)
        if running is not None and running.state == "pulling":
            return running
        job = PullJob(name=name, slug=spec.name)
        self.jobs[spec.name] = job
        task = asyncio.get_running_loop().create_task(self._pull(spec, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _pull(self, spec: catalog.PullSpec, job: PullJob) -> None:
        settings = self.core.settings

        def progress(file: str, done: int, total: int | None) -> None:
            job.file, job.done_bytes, job.total_bytes = file, done, total

        def pull() -> None:
            document, _ = load_document(settings.models_path, settings.overlay_dirs)
            store.pull(spec, settings.cache_dir, store.entry_for(spec, document), progress)

        try:
            await run_blocking(pull)
            await self._reload()
            job.state = "installed"
        except ModelSourceError as exc:
            job.state, job.error = "failed", str(exc)

    async def remove(self, name: str) -> str:
        entry = self.core.registry.resolve(name)
        key = entry.slug if entry is not None else name
        if not await run_blocking(lambda: store.remove(self.core.settings.cache_dir, key)):
            if entry is None and key not in self.core.registry.voices:
                raise model_not_found(name)
            raise ApiError(409, "not_removable", f"{key!r} is part of this installation, not pulled or imported")
        self.core.loader.forget(f"model:{key}")
        self.core.loader.forget(f"voice:{key}:")
        self.jobs.pop(key, None)
        await self._reload()
        return key

    async def _reload(self) -> None:
        settings = self.core.settings
        registry = await run_blocking(lambda: load_registry(settings.models_path, settings.overlay_dirs))
        installed = await run_blocking(lambda: self.core.loader.engines.installed(registry))
        self.core.reload(registry, installed)


async def pull(request: Request) -> JSONResponse:
    management: Management = request.app.state.management
    management.check_enabled()
    job = management.start_pull(request.path_params["model"])
    return JSONResponse({"status": "ok", "data": {"id": job.slug, "pull": job.view()}}, status_code=202)


async def remove(request: Request) -> JSONResponse:
    management: Management = request.app.state.management
    management.check_enabled()
    key = await management.remove(request.path_params["model"])
    return JSONResponse({"status": "ok", "data": {"id": key, "state": "removed"}})
