"""Transcripts rendered for the wire: the one place that knows json, verbose_json, text, srt and vtt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from engines.base import Segment, TranscriptInfo, Word, full_text
from engines.text.languages import LANGUAGE_NAMES
from server import subtitles

TRANSCRIPT_FORMATS = ("text", "json", "verbose_json", "srt", "vtt", "diarized_json")
SUBTITLE_MEDIA_TYPES = {"srt": "application/x-subrip", "vtt": "text/vtt"}


@dataclass(frozen=True)
class TranscriptView:
    """What a transcription request asked to see."""

    response_format: str
    task: str
    segments: bool = True
    words: bool = False


def verbose(info: TranscriptInfo, segments: Sequence[Segment], view: TranscriptView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": view.task,
        "language": info.language,
        "duration": info.duration,
        "text": full_text(segments),
    }
    if view.segments:
        body["segments"] = [segment_dict(s) for s in segments]
    if view.words:
        body["words"] = [_word(w) for s in segments for w in s.words]
    return body


def diarized(info: TranscriptInfo, segments: Sequence[Segment]) -> dict[str, Any]:
    """OpenAI's `diarized_json` (its `TranscriptionDiarized`)."""
    return {
        "task": "transcribe",
        "duration": info.duration,
        "text": full_text(segments),
        "segments": [diarized_segment(s, i) for i, s in enumerate(segments)],
        "usage": usage(info),
    }


def diarized_segment(s: Segment, number: int) -> dict[str, Any]:
    """A segment as `diarized_json` lists it, and as `transcript.text.segment` streams it."""
    return {
        "type": "transcript.text.segment",
        "id": f"seg_{number}",
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "speaker": s.speaker or "A",
    }


def _word(w: Word) -> dict[str, Any]:
    word: dict[str, Any] = {"word": w.word.strip(), "start": w.start, "end": w.end}
    if w.speaker is not None:
        word["speaker"] = w.speaker
    return word


def segment_dict(s: Segment) -> dict[str, Any]:
    return {
        "id": s.id,
        "seek": s.seek,
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "tokens": list(s.tokens),
        "temperature": s.temperature,
        "avg_logprob": s.avg_logprob,
        "compression_ratio": s.compression_ratio,
        "no_speech_prob": s.no_speech_prob,
    } | ({"speaker": s.speaker} if s.speaker is not None else {})


def usage(info: TranscriptInfo) -> dict[str, Any]:
    return {"type": "duration", "seconds": info.duration}


def subtitle_response(response_format: str, segments: Sequence[Segment]) -> Response:
    body = subtitles.srt(segments) if response_format == "srt" else subtitles.vtt(segments)
    return Response(body, media_type=f"{SUBTITLE_MEDIA_TYPES[response_format]}; charset=utf-8")


def native(info: TranscriptInfo, segments: Sequence[Segment], view: TranscriptView) -> Response:
    if view.response_format in SUBTITLE_MEDIA_TYPES:
        return subtitle_response(view.response_format, segments)
    if view.response_format == "verbose_json":
        data = verbose(info, segments, view)
    elif view.response_format == "diarized_json":
        data = diarized(info, segments)
    else:
        data = {"text": full_text(segments), "duration": info.duration, "language": info.language}
    return JSONResponse({"status": "ok", "data": data})


def openai(info: TranscriptInfo, segments: Sequence[Segment], view: TranscriptView) -> Response:
    if view.response_format in SUBTITLE_MEDIA_TYPES:
        return subtitle_response(view.response_format, segments)
    if view.response_format == "text":
        return PlainTextResponse(full_text(segments) + "\n")
    if view.response_format == "verbose_json":
        # The hosted API names the language ("english") where the native API gives its code.
        body = verbose(info, segments, view)
        body["language"] = LANGUAGE_NAMES.get(info.language, info.language)
        return JSONResponse({**body, "usage": usage(info)})
    if view.response_format == "diarized_json":
        return JSONResponse(diarized(info, segments))
    return JSONResponse({"text": full_text(segments), "usage": usage(info)})
