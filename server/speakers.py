"""The form fields that ask for speakers: OpenAI's diarize model and its fields, and the native `diarize`."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.datastructures import FormData, UploadFile

from server.core.diarization import check_speakers
from server.core.requests import DiarizeRequest
from server.errors import bad_request, invalid, quoted

CHUNKING_TYPES = ("auto", "server_vad")
VAD_FIELDS = {"type", "prefix_padding_ms", "silence_duration_ms", "threshold"}


def diarize_request(
    form: FormData,
    model: str,
    diarizing_model: bool,
    response_format: str,
    prompt: str | None,
    granularities: list[str],
) -> DiarizeRequest | None:
    """What the form asks of speakers, checked against the rest of it; None where it asks nothing.

    A model name that diarizes (OpenAI's `gpt-4o-transcribe-diarize`) takes what OpenAI's takes:
    no prompt, no `verbose_json`, no timestamp granularities. `diarize=true` asks the same of any
    Whisper, with every format."""
    wanted = bool(flag(text_field(form, "diarize"), "diarize"))
    names = _list(form, "known_speaker_names")
    references = _list(form, "known_speaker_references")
    chunking = _chunking(text_field(form, "chunking_strategy"))
    if diarizing_model:
        if prompt is not None:
            raise bad_request("invalid_value", "Prompt is not supported for diarization models", "prompt")
        if response_format == "verbose_json":
            message = f"response_format 'verbose_json' is not compatible with model {quoted(model)}"
            raise bad_request("invalid_value", message, "response_format")
        if granularities:
            message = f"'timestamp_granularities' are not available with model {quoted(model)}"
            raise bad_request("invalid_value", message, "timestamp_granularities")
    elif not wanted:
        if response_format == "diarized_json":
            message = (
                "response_format 'diarized_json' needs a diarization model (gpt-4o-transcribe-diarize) or diarize=true"
            )
            raise bad_request("invalid_value", message, "response_format")
        if names or references:
            raise bad_request(
                "invalid_value", "Known speakers need a diarization model or diarize=true", "known_speaker_names"
            )
        return None
    if len(names) != len(references):
        raise bad_request(
            "invalid_value",
            f"{len(names)} known_speaker_names but {len(references)} known_speaker_references: give one clip per name",
            "known_speaker_references",
        )
    spec = DiarizeRequest(
        num_speakers=_count(form, "num_speakers"),
        min_speakers=_count(form, "min_speakers"),
        max_speakers=_count(form, "max_speakers"),
        references=tuple(
            (name, _data_url(url, i)) for i, (name, url) in enumerate(zip(names, references, strict=True))
        ),
        whole_limit_s=30.0 if diarizing_model and chunking is None else None,
    )
    check_speakers(spec)
    return spec


def text_field(form: FormData, name: str) -> str | None:
    """A form field's text, stripped; None where it is absent or blank, a 400 where it is a file."""
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        raise invalid(name, f"'{name}' must be a text field, not a file")
    return value.strip() or None


def flag(value: str | None, name: str) -> bool | None:
    """A form field's true or false (true/false, 1/0, yes/no, on/off); None where it is absent."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise invalid(name, f"'{name}' must be true or false")


def _list(form: FormData, name: str) -> list[str]:
    items = []
    for value in [*form.getlist(f"{name}[]"), *form.getlist(name)]:
        if isinstance(value, UploadFile):
            raise invalid(name, f"'{name}' items must be text")
        if value.strip():
            items.append(value.strip())
    return items


def _count(form: FormData, name: str) -> int | None:
    value = text_field(form, name)
    if value is None:
        return None
    if not value.isdigit():
        raise invalid(name, f"'{name}' must be a whole number, not {quoted(value)}")
    return int(value)


def _chunking(value: str | None) -> dict[str, Any] | None:
    """`auto`, or a server_vad object as JSON. This server finds pauses on its own either way: it is
    accepted for what it says, and checked so that a mistake is not silently ignored."""
    if value is None:
        return None
    if value == "auto":
        return {"type": "auto"}
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        raise invalid("chunking_strategy", "'chunking_strategy' must be 'auto' or a JSON object") from None
    if not isinstance(parsed, dict) or parsed.get("type") not in CHUNKING_TYPES or set(parsed) - VAD_FIELDS:
        message = "'chunking_strategy' must be 'auto' or {\"type\": \"server_vad\", ...} with VAD settings only"
        raise invalid("chunking_strategy", message)
    return parsed


def _data_url(url: str, index: int) -> bytes:
    """A `data:audio/...;base64,...` URL's bytes."""
    param = "known_speaker_references"
    head, comma, body = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64") or not comma:
        raise invalid(param, f"Item {index} of '{param}' must be a data URL: data:audio/wav;base64,...")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(param, f"Item {index} of '{param}' is not valid base64") from None
