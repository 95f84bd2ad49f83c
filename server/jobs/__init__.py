"""Transcription jobs: recordings of hours, submitted once, transcribed window by window in the
background, kept in SQL (so they survive restarts and any replica can finish them)."""

from __future__ import annotations

from dataclasses import dataclass

from server.jobs.runner import JobRunner
from server.jobs.store import JobStore


@dataclass
class Jobs:
    store: JobStore
    runner: JobRunner
