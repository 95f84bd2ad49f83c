"""Read requests into core request objects: bounded multipart uploads and JSON bodies."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from engines.base import TranscriptionOptions
from server.cancel import ClientGone
from server.core.requests import SpeechRequest, TranscribeRequest
from server.errors import ApiError, bad_request, invalid, missing, quoted
from server.render import TRANSCRIPT_FORMATS, TranscriptView
from server.speakers import diarize_request
from server.speakers import flag as _bool
from server.speakers import text_field as _field
from server.uploads import Pace, Upload, UploadTooLarge, paced

# Room for the form's other fields and boundaries on top of the file itself.
_FORM_OVERHEAD = 64 * 1024
# Far above any valid synthesis request (4096 characters of input, even escaped).
MAX_JSON_BYTES = 1024 * 1024
# Whisper conditions on the last 224 tokens of a prompt; far more than that is a client's mistake.
MAX_PROMPT_CHARS = 8192
# A text field: known speakers' clips come as data URLs of up to 10 s (a WAV at 48 kHz in base64).
MAX_FIELD_BYTES = 4 * 1024 * 1024
# Past this, a refused upload is not even drained: the connection is closed.
_DRAIN_LIMIT = 256 * 1024 * 1024


async def read_form(request: Request, max_bytes: int, pace: Pace, upload: Upload | None = None) -> FormData:
    """Parse multipart/form-data, spooling files to disk and refusing bodies over `max_bytes` or slower
    than `pace` (the parser closes, and so deletes, what it had spooled)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise bad_request(
            "invalid_content_type",
            f"Expected multipart/form-data with a 'file' field, got '{content_type or 'no content type'}'",
        )
    limit = max_bytes + _FORM_OVERHEAD
    too_large = ApiError(413, "file_too_large", f"The upload is larger than {max_bytes // (1024 * 1024)} MB", "file")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        await _drain(request, int(declared))
        raise too_large
    parser = MultiPartParser(
        request.headers,
        paced(request.stream(), limit, pace, upload),
        max_files=2,
        max_fields=32,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        return await parser.parse()
    except ClientDisconnect:
        raise ClientGone from None
    except UploadTooLarge:
        await _drain(request, _DRAIN_LIMIT)
        raise too_large from None
    except MultiPartException as exc:
        raise bad_request("invalid_multipart", f"The multipart body could not be parsed: {exc}") from exc


async def _drain(request: Request, declared: int) -> None:
    # Reading (and dropping) the rest lets the client finish sending and read our 413,
    # instead of failing with a broken pipe. Nothing is kept in memory.
    if declared > _DRAIN_LIMIT:
        return
    try:
        async for _ in request.stream():
            pass
    except Exception:
        return


def _float(value: str | None, name: str, default: float, low: float, high: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise invalid(name, f"'{name}' must be a number, not {quoted(value)}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise invalid(name, f"'{name}' must be between {low} and {high}")
    return number


def transcription_request(
    form: FormData, default_format: str, task: str, vad_default: bool, diarizing: frozenset[str] = frozenset()
) -> tuple[TranscribeRequest, TranscriptView, bool]:
    """The form fields of both surfaces; returns the request, what to render, and whether to stream.
    Model names in `diarizing` ask for speakers too (OpenAI's diarize model)."""
    upload = form.get("file")
    if upload is None:
        raise missing("file")
    if not isinstance(upload, UploadFile):
        raise invalid("file", "'file' must be an uploaded file, not a text field")
    if upload.size == 0:
        raise bad_request("empty_file", "The uploaded file is empty", "file")
    model = _field(form, "model")
    if model is None:
        raise missing("model")
    response_format = _field(form, "response_format") or default_format
    if response_format not in TRANSCRIPT_FORMATS:
        raise invalid("response_format", f"'response_format' must be one of {', '.join(TRANSCRIPT_FORMATS)}")
    granularities = _granularities(form)
    if granularities and response_format != "verbose_json":
        raise invalid("timestamp_granularities", "'timestamp_granularities' needs response_format 'verbose_json'")
    language = _field(form, "language")
    stream = bool(_bool(_field(form, "stream"), "stream"))
    vad = _bool(_field(form, "vad_filter"), "vad_filter")
    prompt = _prompt(_field(form, "prompt"))
    diarization = diarize_request(form, model, model in diarizing, response_format, prompt, granularities)
    words = "word" in granularities
    options = TranscriptionOptions(
        language=language.lower() if language else None,
        task=task,
        temperature=_float(_field(form, "temperature"), "temperature", 0.0, 0.0, 1.0),
        prompt=prompt,
        # Subtitles are cut at word boundaries, and speakers are told apart word by word: both need
        # word timings too.
        word_timestamps=words or response_format in ("srt", "vtt") or diarization is not None,
        sentence_segments=response_format in ("verbose_json", "srt", "vtt", "diarized_json"),
        vad_filter=vad_default if vad is None else vad,
        condition_on_previous_text=bool(
            _bool(_field(form, "condition_on_previous_text"), "condition_on_previous_text")
        ),
    )
    view = TranscriptView(
        response_format=response_format,
        task=task,
        segments=not granularities or "segment" in granularities,
        # Diarized words are timed anyway: verbose_json lists them with their speakers.
        words=words or diarization is not None,
    )
    return TranscribeRequest(model=model, audio=upload.file, options=options, diarization=diarization), view, stream


def _prompt(prompt: str | None) -> str | None:
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise bad_request(
            "prompt_too_long",
            f"'prompt' has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS} "
            "(Whisper reads only the last 224 tokens of it)",
            "prompt",
        )
    return prompt


def _granularities(form: FormData) -> list[str]:
    values = [*form.getlist("timestamp_granularities[]"), *form.getlist("timestamp_granularities")]
    result: list[str] = []
    for value in values:
        if isinstance(value, UploadFile):
            raise invalid("timestamp_granularities", "'timestamp_granularities' must be text")
        # Some clients send the list as one JSON or comma-separated field.
        text = value.strip()
        try:
            items = json.loads(text) if text.startswith("[") else text.split(",")
        except (json.JSONDecodeError, RecursionError):
            raise invalid("timestamp_granularities", "'timestamp_granularities' is not a valid list") from None
        for item in items:
            item = str(item).strip()
            if item not in ("segment", "word"):
                message = f"{quoted(item)} is not a granularity; use 'segment' or 'word'"
                raise invalid("timestamp_granularities", message)
            result.append(item)
    return result


async def read_json(request: Request, pace: Pace) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise bad_request(
            "invalid_content_type", f"Expected an application/json body, got '{content_type or 'no content type'}'"
        )
    try:
        body = b"".join([chunk async for chunk in paced(request.stream(), MAX_JSON_BYTES, pace)])
    except ClientDisconnect:
        raise ClientGone from None
    except UploadTooLarge:
        await _drain(request, _DRAIN_LIMIT)
        raise ApiError(413, "body_too_large", f"A JSON body may be at most {MAX_JSON_BYTES // 1024} KB") from None
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request("invalid_json", f"The body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise bad_request("invalid_json", "The body nests too deeply") from None
    if not isinstance(data, dict):
        raise bad_request("invalid_json", "The body must be a JSON object")
    return data


def speech_request(body: dict[str, Any]) -> SpeechRequest:
    model = _json_str(body, "model")
    text = body.get("input")
    if text is None:
        raise missing("input")
    if not isinstance(text, str):
        raise invalid("input", "'input' must be a string")
    voice = body.get("voice")
    if isinstance(voice, dict):
        # The newer OpenAI SDKs send custom voices as {"id": "..."}.
        voice = voice.get("id")
    if voice is None:
        raise missing("voice")
    if not isinstance(voice, str) or not voice:
        raise invalid("voice", "'voice' must be a voice name or {\"id\": name}")
    response_format = body.get("response_format") or "mp3"
    if not isinstance(response_format, str):
        raise invalid("response_format", "'response_format' must be a string")
    speed = body.get("speed", 1.0)
    if speed is None:
        speed = 1.0
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise invalid("speed", "'speed' must be a number")
    stream_format = body.get("stream_format") or "audio"
    if stream_format not in ("audio", "sse"):
        raise invalid("stream_format", "'stream_format' must be 'audio' or 'sse'")
    language = body.get("language") or None
    if language is not None and not isinstance(language, str):
        raise invalid("language", "'language' must be a language code such as 'en' or 'ja'")
    return SpeechRequest(
        model=model,
        input=text,
        voice=voice,
        response_format=response_format,
        speed=float(speed),
        stream_format=stream_format,
        normalize=_json_bool(body, "normalize"),
        read_emoji=bool(_json_bool(body, "read_emoji")),
        language=language,
    )


def _json_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(name, f"'{name}' must be true or false")
    return value


def _json_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise missing(name)
    if not isinstance(value, str):
        raise invalid(name, f"'{name}' must be a string")
    return value
