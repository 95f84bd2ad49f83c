"""Prometheus metrics: one registry per app, request middleware, and the /metrics route."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from engines.loader import ModelLoader
from server.core.admission import Admission
from server.requestlog import handshake_status

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5)
SESSION_BUCKETS = (0.1, 1, 10, 30, 60, 300, 900, 1800, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("audio_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.latency = Histogram(
            "audio_request_seconds",
            "Time from request to the last body byte",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "audio_queue_wait_seconds",
            "Time a request waited for a model slot",
            ["model"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Counter(
            "audio_processed_audio_seconds",
            "Seconds of audio transcribed or synthesized",
            ["model", "task"],
            registry=r,
        )
        self.real_time_factor = Histogram(
            "audio_real_time_factor",
            "Processing seconds per second of audio",
            ["model", "task"],
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.first_byte = Histogram(
            "audio_synthesis_first_byte_seconds",
            "Time from a synthesis request to its first audio byte",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs_running = Gauge("audio_jobs_running", "Transcription jobs this replica is running", registry=r)
        self.jobs_audio_seconds = Counter(
            "audio_jobs_audio_seconds", "Seconds of job audio this replica transcribed", registry=r
        )
        self.jobs_finished = Counter(
            "audio_jobs_finished", "Jobs this replica finished, by how they ended", ["state"], registry=r
        )
        self.realtime_turns = Counter(
            "audio_realtime_turns", "Turns live transcription sessions transcribed", ["model"], registry=r
        )
        self.realtime_latency = Histogram(
            "audio_realtime_completed_seconds",
            "Time from the end of a live turn's speech (or its commit) to its completed transcript",
            ["model"],
            buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
            registry=r,
        )
        self.model_load = Gauge("audio_model_load_seconds", "How long each model took to load", ["model"], registry=r)
        # Apart from the requests: a socket's status is its handshake's, and it lasts minutes, not seconds.
        self.websocket_sessions = Counter(
            "audio_websocket_sessions",
            "WebSocket connections by route and handshake status (101 accepted, 403 refused, 500 failed)",
            ["route", "status"],
            registry=r,
        )
        self.websocket_seconds = Histogram(
            "audio_websocket_session_seconds",
            "How long each WebSocket connection lasted",
            ["route"],
            buckets=SESSION_BUCKETS,
            registry=r,
        )
        self.websocket_open = Gauge(
            "audio_websocket_open_sessions", "WebSocket connections open now", ["route"], registry=r
        )

    def watch(self, admissions: Mapping[str, Admission], loader: ModelLoader) -> None:
        """Queue depth and waits from the admission queues (read live: models added at run time count
        too, once `watch_admission` is called for them), load times from the loader."""
        self.registry.register(_AdmissionCollector(admissions))
        for admission in admissions.values():
            self.watch_admission(admission)
        loader.on_load = self._model_loaded

    def watch_admission(self, admission: Admission) -> None:
        admission.on_wait = self._waited

    def _model_loaded(self, key: str, seconds: float) -> None:
        self.model_load.labels(model=key).set(seconds)

    def _waited(self, model: str, seconds: float) -> None:
        self.queue_wait.labels(model=model).observe(seconds)

    def processed(self, model: str, task: str, audio_seconds: float, elapsed: float) -> None:
        self.audio_seconds.labels(model=model, task=task).inc(audio_seconds)
        if audio_seconds > 0:
            self.real_time_factor.labels(model=model, task=task).observe(elapsed / audio_seconds)

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8")


class _AdmissionCollector(Collector):
    """Queue depth and running requests, read from the admission queues at scrape time."""

    def __init__(self, admissions: Mapping[str, Admission]) -> None:
        self.admissions = admissions

    def collect(self) -> Iterable[GaugeMetricFamily]:
        queued = GaugeMetricFamily("audio_queue_depth", "Requests waiting for a model slot", labels=["model"])
        active = GaugeMetricFamily("audio_active_requests", "Requests running on a model", labels=["model"])
        limit = GaugeMetricFamily(
            "audio_concurrency_limit", "Requests a model runs at once (Whisper: room in its batches)", labels=["model"]
        )
        for admission in list(self.admissions.values()):
            queued.add_metric([admission.name], admission.queued)
            active.add_metric([admission.name], admission.active)
            limit.add_metric([admission.name], admission.concurrency)
        return [queued, active, limit]

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


class RequestMetrics:
    """Counts each request by its route template and status, timing it to the last body byte; and each
    WebSocket connection by its route and handshake status, timing it to its end."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = _route(scope)
            metrics.requests.labels(route=route, status=str(status)).inc()
            metrics.latency.labels(route=route).observe(time.perf_counter() - started)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The status follows the access log's rule: the handshake's, or 500 when the app failed."""
        metrics = self.metrics
        started = time.perf_counter()
        status = 0
        open_on: str | None = None

        async def record(message: Message) -> None:
            nonlocal status, open_on
            if status == 0:
                status = handshake_status(message, scope) or 0
                if status == 101:
                    open_on = _route(scope)
                    metrics.websocket_open.labels(route=open_on).inc()
            await send(message)

        try:
            await self.app(scope, receive, record)
        except WebSocketDisconnect:
            raise  # a client hanging up is no failure of the app's
        except Exception:
            status = 500
            raise
        finally:
            route = _route(scope)
            # No handshake at all: the server answers a 500 for the app.
            metrics.websocket_sessions.labels(route=route, status=str(status or 500)).inc()
            metrics.websocket_seconds.labels(route=route).observe(time.perf_counter() - started)
            if open_on is not None:
                metrics.websocket_open.labels(route=open_on).dec()


def _route(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", "unmatched")
