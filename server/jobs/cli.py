"""`python -m server jobs list|show|result|cancel`: the jobs in the database this server uses (the same
AUDIO_* settings), read and changed directly, so an operator needs neither the server nor a key."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from server.config import Settings
from server.jobs.routes import job_view, joined, transcript_info
from server.jobs.store import JobStore, database_url
from server.render import TRANSCRIPT_FORMATS, TranscriptView, diarized, verbose


def add_parser(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="list, show, fetch the result of, or cancel transcription jobs")
    verbs = jobs.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="jobs, newest first")
    listing.add_argument("--limit", type=int, default=50)
    verbs.add_parser("show", help="one job as JSON").add_argument("id")
    result = verbs.add_parser("result", help="a finished job's transcript, on standard output")
    result.add_argument("id")
    result.add_argument("--format", choices=TRANSCRIPT_FORMATS, default="text")
    verbs.add_parser(
        "cancel", help="cancel a queued or running job and delete it (or delete a finished one)"
    ).add_argument("id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    store = JobStore(database_url(settings.jobs_database_url, settings.cache_dir))
    try:
        if args.verb == "list":
            found, more = store.page(None, max(1, args.limit))
            print(f"{'ID':<29} {'STATE':<10} {'DONE':>6} {'AUDIO':>9}  {'MODEL':<24} FILE")
            for listed in found:
                fraction = job_view(listed)["progress"]["fraction"]
                done = "?" if fraction is None else f"{fraction:.0%}"
                total = listed.audio_seconds_total
                audio = "?" if total is None else f"{total / 60:.1f} min"
                name = listed.filename or ""
                print(f"{listed.id:<29} {listed.state:<10} {done:>6} {audio:>9}  {listed.model:<24} {name}")
            if more:
                print(f"(more: --limit {args.limit * 2})")
            return 0
        job = store.get(args.id)
        if job is None:
            print(f"error: there is no job {args.id!r}", file=sys.stderr)
            return 1
        if args.verb == "show":
            print(json.dumps(job_view(job), indent=2))
            return 0
        if args.verb == "cancel":
            store.delete(job.id)
            print(f"{job.id}: {'cancelled and ' if job.state in ('queued', 'running') else ''}deleted")
            return 0
        if job.state != "succeeded":
            print(f"error: {job.id} is {job.state}; it has no result yet", file=sys.stderr)
            return 1
        print(_result(store, job.id, args.format), end="")
        return 0
    finally:
        store.close()


def _result(store: JobStore, job_id: str, response_format: str) -> str:
    from server import subtitles

    job = store.get(job_id)
    assert job is not None
    segments = joined(store.windows(job_id))
    info = transcript_info(job)
    if response_format == "srt":
        return subtitles.srt(segments)
    if response_format == "vtt":
        return subtitles.vtt(segments)
    view = TranscriptView(response_format=response_format, task=job.options.task, words=True)
    body = diarized(info, segments) if response_format == "diarized_json" else verbose(info, segments, view)
    if response_format == "text":
        return str(body["text"]) + "\n"
    if response_format == "json":
        body = {"text": body["text"], "duration": info.duration, "language": info.language}
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
