"""The Starlette application: routes of both surfaces over one core, built in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engines.loader import EngineFactory, ModelFiles, ModelLoader
from engines.models.registry_files import load_registry
from server import native, openai_api, pages
from server.auth import BearerAuth
from server.cancel import ClientGone
from server.config import Settings
from server.core import Core
from server.errors import ApiError
from server.jobs import Jobs
from server.jobs import routes as job_routes
from server.jobs.runner import JobRunner
from server.jobs.store import JobStore, database_url, redacted
from server.management import Management
from server.metrics import Metrics, RequestMetrics
from server.realtime import route as realtime
from server.realtime.previews import Previews
from server.requestlog import RequestLog
from server.surfaces import on_api_error, on_client_gone, on_http_error
from server.threads import run_blocking

if TYPE_CHECKING:
    from server.wyoming import Listener

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    preloaded: bool = False
    errors: list[str] = field(default_factory=list)


def create_app(settings: Settings | None = None, engines: EngineFactory | None = None) -> Starlette:
    """The server on `settings`; `engines` makes the model engines (the real ones from the model
    files by default; tests pass small fakes to run the whole HTTP contract without models)."""
    settings = settings or Settings.from_env()
    engines = engines or ModelFiles(settings.cache_dir, settings.allow_download)
    # A broken models.toml stops the server here, before it listens, naming the key.
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loader = ModelLoader(registry, engines)
        app.state.core = Core(settings, registry, loader, metrics)
        app.state.management = Management(app.state.core)
        app.state.readiness = Readiness(preloaded=not settings.preload)
        app.state.previews = Previews(app.state.core)
        idle_limits = [e.idle_unload_s for e in registry.models.values() if e.idle_unload_s > 0]
        tasks = [asyncio.create_task(_unload_idle(loader, min(idle_limits) / 2))] if idle_limits else []
        listener = _listener(app.state.core) if settings.wyoming_uri else None
        tasks.append(asyncio.create_task(_start(app.state.core, app.state.readiness, settings.preload, listener)))
        url = database_url(settings.jobs_database_url, settings.cache_dir)
        store = await run_blocking(lambda: JobStore(url))
        log.info("jobs are kept in %s", redacted(url))
        app.state.jobs = Jobs(store, JobRunner(app.state.core, store))
        # The runner hands its running jobs back when it is cancelled, so it is awaited at shutdown.
        runner = asyncio.create_task(app.state.jobs.runner.run()) if settings.jobs_workers else None
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if runner is not None:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
            await run_blocking(store.close)
            if listener is not None:
                await listener.stop()

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            *native.routes,
            *job_routes.routes,
            *openai_api.routes,
            *realtime.routes,
            *pages.routes(),
        ],
        middleware=middleware(settings, metrics),
        exception_handlers={ApiError: on_api_error, ClientGone: on_client_gone, HTTPException: on_http_error},
        lifespan=lifespan,
    )


def middleware(settings: Settings, metrics: Metrics) -> list[Middleware]:
    """The stack every route sits behind, outermost first; tests wrap their own small apps in it too."""
    return [
        Middleware(RequestLog),
        # Outside the key check: a browser's preflight carries no key.
        *_cors(settings.cors_origins),
        Middleware(RequestMetrics, metrics=metrics),
        Middleware(BearerAuth, keys=settings.api_keys),
    ]


def _cors(origins: tuple[str, ...]) -> list[Middleware]:
    """Off unless origins are configured (`AUDIO_CORS_ORIGINS`)."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["Retry-After", "Content-Type", "X-Request-Id"],
            max_age=600,
        )
    ]


def _listener(core: Core) -> Listener:
    # Imported only when asked for: the wyoming package pulls in the deprecated audioop.
    from server.wyoming import Listener

    assert core.settings.wyoming_uri is not None
    return Listener(core, core.settings.wyoming_uri, core.settings.wyoming_idle_s)


async def _start(core: Core, readiness: Readiness, preload: bool, listener: Listener | None) -> None:
    """Preload, then open the Wyoming listener (its `info` lists the loaded voices)."""
    if preload:
        await _preload(core, readiness)
    if listener is not None:
        try:
            await listener.start(zeroconf=core.settings.wyoming_zeroconf)
        except Exception as exc:  # a taken port, an unreachable socket path
            log.error("the Wyoming listener on %s could not start: %s", listener.uri, exc)
            readiness.errors.append(f"Wyoming listener: {exc}")


async def _preload(core: Core, readiness: Readiness) -> None:
    """Load the `preload = true` models off the event loop; /ready waits for this."""
    try:
        for entry in core.served.models():
            if not entry.preload or entry.slug not in core.served.installed.models:
                continue
            try:
                if entry.task == "transcription":
                    await core.load_transcriber(entry)
                elif entry.task == "diarization":
                    await core.models.diarizer()
                else:
                    for voice in sorted({m.voice for m in core.served.voice_map.values()}):
                        await core.load_synthesizer(voice, entry)
            except ApiError as exc:
                log.error("preloading %s failed: %s", entry.slug, exc.message)
                readiness.errors.append(exc.message)
    finally:
        readiness.preloaded = True


async def _unload_idle(loader: ModelLoader, every_s: float) -> None:
    """Drop models idle past their `idle_unload_s`; they load again on next use."""
    while True:
        await asyncio.sleep(every_s)
        # Freeing a model's memory can take a while; not on the event loop.
        await run_blocking(loader.unload_idle)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    readiness: Readiness = request.app.state.readiness
    core: Core = request.app.state.core
    saturated = [a.name for a in core.admissions.values() if a.saturated]
    is_ready = readiness.preloaded and not readiness.errors and not saturated
    body = {
        "status": "ok" if is_ready else "unavailable",
        "models_loaded": sorted(core.loader.loaded()),
        "preloaded": readiness.preloaded,
        "errors": readiness.errors,
        "saturated": saturated,
    }
    return JSONResponse(body, status_code=200 if is_ready else 503)
