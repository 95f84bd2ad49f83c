"""The jobs routes of the native surface: submit, follow, fetch the result, list, cancel and delete."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engines.audio.decode import AudioTooLong, UndecodableAudio
from engines.audio.windows import probe
from engines.base import Segment, TranscriptInfo
from server import render
from server.core import Core
from server.core.diarization import known_speakers
from server.core.requests import DiarizeRequest
from server.core.transcription import audio_error
from server.errors import ApiError, invalid, quoted
from server.jobs import Jobs
from server.jobs.store import Job, Speakers, Window
from server.parsing import read_form, transcription_request
from server.render import TRANSCRIPT_FORMATS, TranscriptView
from server.threads import run_blocking

PREFIX = "/v1/inference/audio/jobs"
JOB_ID = re.compile(r"job_[0-9a-f]{24}")
"""What the store makes: anything else is no job, and never reaches the database."""
MAX_PAGE = 100


async def submit(request: Request) -> Response:
    core: Core = request.app.state.core
    jobs: Jobs = request.app.state.jobs
    settings = core.settings
    # A job's upload goes to disk as it arrives (the parser spools files past 1 MB), so it counts
    # among the uploads being received but not against the bytes they may hold in memory.
    upload = core.uploads.begin()
    try:
        form = await read_form(request, settings.max_job_upload_bytes, core.pace)
    finally:
        upload.release()
    try:
        parsed, view, stream = transcription_request(
            form, "json", "transcribe", settings.vad_default, core.registry.diarizing
        )
        if stream:
            raise invalid("stream", f"A job is not streamed; follow it with GET {PREFIX}/{{id}}")
        entry = await core.transcription.check(parsed)
        file = form.get("file")
        assert isinstance(file, UploadFile)
        total = await run_blocking(functools.partial(_probe, file, settings.max_job_audio_seconds))
        # After the cheap checks: making voice prints loads the diarizer and reads every clip.
        speakers = await _speakers(core, parsed.diarization) if parsed.diarization else None
        # Every format can be asked of the result later, so the words are timed and the segments cut
        # at sentences, whatever the submission's own response_format.
        options = replace(parsed.options, word_timestamps=True, sentence_segments=True)
        create = functools.partial(
            jobs.store.create,
            _owner(request),
            entry.slug,
            options,
            view.response_format,
            (file.filename or "")[:300] or None,
            file.file,
            total,
            speakers,
        )
        job = await run_blocking(create)
    finally:
        await form.close()
    jobs.runner.wake()
    return JSONResponse(
        {"status": "ok", "data": job_view(job)}, status_code=202, headers={"Location": f"{PREFIX}/{job.id}"}
    )


async def _speakers(core: Core, spec: DiarizeRequest) -> Speakers:
    """What a job keeps of its diarization fields: the known speakers' clips are checked and made voice
    prints now, so that their errors come at submission and only the prints are stored."""
    diarizer = await core.models.diarizer()
    known = await run_blocking(lambda: known_speakers(diarizer, spec.references))
    return Speakers(
        spec.num_speakers,
        spec.min_speakers,
        spec.max_speakers,
        tuple((k.name, tuple(float(x) for x in k.voice)) for k in known),
    )


def _probe(file: UploadFile, max_seconds: float) -> float | None:
    """The checks the sync route makes, as far as they can be made before transcribing."""
    file.file.seek(0)
    try:
        return probe(file.file, max_seconds)
    except (UndecodableAudio, AudioTooLong) as exc:
        raise audio_error(exc) from exc
    finally:
        file.file.seek(0)


async def retrieve(request: Request) -> JSONResponse:
    job = await _job(request)
    return JSONResponse({"status": "ok", "data": job_view(job)})


async def result(request: Request) -> Response:
    jobs: Jobs = request.app.state.jobs
    job = await _job(request)
    response_format = request.query_params.get("response_format") or job.response_format
    if response_format not in TRANSCRIPT_FORMATS:
        raise invalid("response_format", f"'response_format' must be one of {', '.join(TRANSCRIPT_FORMATS)}")
    if job.state != "succeeded":
        if job.state == "failed":
            message = f"The job failed ({job.error_code}: {job.error_message}); it has no result"
        else:
            message = f"The job is {job.state} ({_percent(job)} done); its result is ready once it has succeeded"
        raise ApiError(409, "job_not_finished" if job.state != "failed" else "job_failed", message)
    windows = await run_blocking(functools.partial(jobs.store.windows, job.id))
    view = TranscriptView(response_format=response_format, task=job.options.task, words=True)
    return await run_blocking(lambda: render.native(transcript_info(job), joined(windows), view))


async def list_jobs(request: Request) -> JSONResponse:
    jobs: Jobs = request.app.state.jobs
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid("limit", f"'limit' must be a whole number from 1 to {MAX_PAGE}")
    after = request.query_params.get("after") or None
    if after is not None and not JOB_ID.fullmatch(after):
        raise invalid("after", "'after' must be a job id from the previous page's 'next_after'")
    page = functools.partial(jobs.store.page, _owner(request), int(raw), after)
    found, more = await run_blocking(page)
    body = {"jobs": [job_view(j) for j in found], "has_more": more, "next_after": found[-1].id if more else None}
    return JSONResponse({"status": "ok", "data": body})


async def delete(request: Request) -> JSONResponse:
    """Cancel the job if it is queued or running, and delete it with its audio and windows."""
    jobs: Jobs = request.app.state.jobs
    job_id = _job_id(request)
    job = await run_blocking(functools.partial(jobs.store.delete, job_id, _owner(request)))
    if job is None:
        raise _not_found(job_id)
    jobs.runner.stop(job.id)
    view = job_view(job)
    if job.state in ("queued", "running"):
        view["state"] = "cancelled"
    return JSONResponse({"status": "ok", "data": {**view, "deleted": True}})


async def _job(request: Request) -> Job:
    jobs: Jobs = request.app.state.jobs
    job_id = _job_id(request)
    job = await run_blocking(functools.partial(jobs.store.get, job_id, _owner(request)))
    if job is None:
        raise _not_found(job_id)
    return job


def _job_id(request: Request) -> str:
    """The path's job id; one the store could not have made is no job, and never reaches the database."""
    job_id: str = request.path_params["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise _not_found(job_id)
    return job_id


def _owner(request: Request) -> str | None:
    """With API keys, a job belongs to the key that made it (by digest: the key is never stored);
    another key is told it does not exist."""
    state = request.scope.get("state") or {}
    owner: str | None = state.get("api_key_id")
    return owner


def _not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"There is no job {quoted(job_id, 64)}", "id")


def _percent(job: Job) -> str:
    fraction = _fraction(job)
    return "?" if fraction is None else f"{fraction:.0%}"


def _fraction(job: Job) -> float | None:
    if job.state == "succeeded":
        return 1.0
    if not job.audio_seconds_total:
        return None
    return round(min(1.0, job.audio_seconds_done / job.audio_seconds_total), 4)


def _time(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "object": "transcription.job",
        "state": job.state,
        "model": job.model,
        "filename": job.filename,
        "response_format": job.response_format,
        "language": job.language,
        "diarize": job.speakers is not None,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "progress": {
            "audio_seconds_done": round(job.audio_seconds_done, 3),
            "audio_seconds_total": None if job.audio_seconds_total is None else round(job.audio_seconds_total, 3),
            "fraction": _fraction(job),
        },
        "error": None
        if job.error_code is None
        else {"code": job.error_code, "message": job.error_message, "param": None},
        "result_url": f"{PREFIX}/{job.id}/result" if job.state == "succeeded" else None,
    }


def transcript_info(job: Job) -> TranscriptInfo:
    return TranscriptInfo(
        language=job.language or job.options.language or "en",
        language_probability=job.language_probability or 0.0,
        duration=round(job.audio_seconds_total or job.audio_seconds_done, 3),
    )


def joined(windows: Sequence[Window]) -> list[Segment]:
    """The windows' segments as one transcript, numbered from 0."""
    return [replace(s, id=i) for i, s in enumerate(s for w in windows for s in w.segments)]


routes = [
    Route(PREFIX, submit, methods=["POST"]),
    Route(PREFIX, list_jobs, methods=["GET"]),
    Route(PREFIX + "/{job_id}", retrieve, methods=["GET"]),
    Route(PREFIX + "/{job_id}", delete, methods=["DELETE"]),
    Route(PREFIX + "/{job_id}/result", result, methods=["GET"]),
]
