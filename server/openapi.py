"""The OpenAPI 3.1 document of both surfaces, served at /openapi.json and rendered at /docs."""

from __future__ import annotations

from typing import Any

from engines.audio.encode import FORMATS
from engines.models.registry import Registry
from server.config import Settings
from server.jobs.routes import MAX_PAGE, PREFIX
from server.openapi_schemas import schemas
from server.realtime.route import PATH as REALTIME
from server.realtime.session import REREAD_S
from server.render import TRANSCRIPT_FORMATS

AUDIO_TYPES = {name: f.media_type for name, f in FORMATS.items()}
ERRORS = {
    400: "Invalid or missing field, malformed body",
    401: "Missing or wrong API key",
    404: "Unknown model, or a model that is not installed",
    405: "Wrong HTTP method",
    408: "The body stalled, or arrived slower than the server accepts",
    413: "Upload or body over the limit",
    415: "The file is not audio this server can decode",
    429: "The model's queue is full; retry after `Retry-After` seconds",
    503: "No slot in time, too many uploads at once, or the model could not be loaded: retry after `Retry-After` "
    "seconds. A transcription whose work ran past its budget (`work_timeout`: AUDIO_WORK_BASE_S + "
    "AUDIO_WORK_PER_AUDIO_SECOND per second of audio) has no `Retry-After` and `x-should-retry: false`: "
    f"retrying will not help; submit it as a job (`POST {PREFIX}`)",
}
SSE_EVENT = {
    "description": "One server-sent event; its data is a JSON object with a `type` "
    "(transcript.text.delta/done, speech.audio.delta/done, error)",
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "contentMediaType": "application/json"}, "event": {"type": "string"}},
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}
SHOULD_RETRY = {
    "x-should-retry": {
        "description": "`false` when retrying cannot help (`work_timeout`)",
        "schema": {"type": "string"},
    }
}


def document(settings: Settings, registry: Registry) -> dict[str, Any]:
    """The document for this server: its limits, and the model and voice names of its registry."""
    names = {
        task: sorted(n for e in registry.models.values() if e.task == task for n in e.names)
        for task in ("transcription", "synthesis")
    }
    voices = sorted({*registry.voice_map, *registry.voices})
    native, openai = _paths(names["transcription"])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "audio-server",
            "version": "0.1.0",
            "description": "Offline transcription (faster-whisper) and synthesis (Piper): a native API in a "
            '`{"status", "data"}` envelope, and OpenAI-compatible routes under `/oai/v1`, with live '
            f"transcription over OpenAI's realtime WebSocket protocol at `{REALTIME}?intent=transcription` "
            "(described under the realtime tag: OpenAPI has no WebSocket operations).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {}],
        "tags": [
            {"name": "native", "description": "The native API"},
            {
                "name": "jobs",
                "description": "Transcription jobs: recordings of hours, submitted once and transcribed in the "
                "background, window by window, behind interactive requests",
            },
            {"name": "openai", "description": "OpenAI-compatible routes"},
            {"name": "realtime", "description": _socket(settings)},
            {"name": "service", "description": "Health, readiness and metrics"},
        ],
        "paths": {
            **native,
            **_jobs(settings, names["transcription"]),
            **openai,
            **_realtime(),
            **_service(),
        },
        "components": {
            "schemas": schemas(settings, names["synthesis"], voices, names["transcription"]),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(envelope: str, *statuses: int) -> dict[str, Any]:
    answers = {}
    for status in statuses:
        answer: dict[str, Any] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": _ref(envelope)}},
        }
        if status == 429:
            answer["headers"] = RETRY_AFTER
        elif status == 503:
            answer["headers"] = {**RETRY_AFTER, **SHOULD_RETRY}
        answers[str(status)] = answer
    return answers


TRANSCRIBE_ERRORS = (400, 401, 404, 405, 408, 413, 415, 429, 503)
SPEECH_ERRORS = (400, 401, 404, 405, 408, 413, 429, 503)


def _transcription_form(default_format: str, models: list[str], translate: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "file": {
            "type": "string",
            "format": "binary",
            "contentMediaType": "application/octet-stream",
            "description": "The audio: mp3, wav, ogg, webm, m4a, mp4, flac, aac, opus, ...",
        },
        "model": {"type": "string", "enum": models, "description": "A transcription model slug or alias"},
        "prompt": {
            "type": "string",
            "maxLength": 8192,
            "description": "Text that biases the transcript; Whisper reads its last 224 tokens",
        },
        "response_format": {"type": "string", "enum": list(TRANSCRIPT_FORMATS), "default": default_format},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
        "stream": {"type": "boolean", "default": False, "description": "Send the transcript as server-sent events"},
        "vad_filter": {
            "type": "boolean",
            "description": "With condition_on_previous_text: skip non-speech before decoding (batched decoding "
            "always does; server default: AUDIO_VAD_DEFAULT)",
        },
        "condition_on_previous_text": {
            "type": "boolean",
            "default": False,
            "description": "Decode in order, each 30 s prompted with the text before it, instead of in batches",
        },
    }
    if not translate:
        properties["language"] = {
            "type": "string",
            "pattern": "^[a-zA-Z]{2,3}$",
            "examples": ["en"],
            "description": "ISO-639-1 code; detected when absent",
        }
        properties["timestamp_granularities[]"] = {
            "type": "array",
            "items": {"type": "string", "enum": ["segment", "word"]},
            "description": "With verbose_json",
        }
        properties |= _speaker_fields()
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file", "model"], "properties": properties},
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    }


def _speaker_fields() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 1, "maximum": 32}
    return {
        "diarize": {
            "type": "boolean",
            "default": False,
            "description": "Tell the speakers apart: segments and words carry `speaker`, SRT and WebVTT mark "
            "them. The model gpt-4o-transcribe-diarize does this too (and refuses prompt, verbose_json and "
            "timestamp_granularities, as OpenAI's does)",
        },
        "num_speakers": count | {"description": "How many people speak, if known"},
        "min_speakers": count,
        "max_speakers": count,
        "known_speaker_names[]": {
            "type": "array",
            "maxItems": 4,
            "items": {"type": "string"},
            "description": "Names for speakers to recognise, one per reference clip",
        },
        "known_speaker_references[]": {
            "type": "array",
            "maxItems": 4,
            "items": {"type": "string", "examples": ["data:audio/wav;base64,UklGR..."]},
            "description": "A data URL of a 2-10 s clip of each known speaker's voice",
        },
        "chunking_strategy": {
            "type": "string",
            "description": "'auto' or a server_vad JSON object; gpt-4o-transcribe-diarize needs it past 30 s",
        },
    }


def _speech_body() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": _ref("SpeechRequest"),
                "examples": {
                    "hello": {
                        "value": {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "mp3"}
                    }
                },
            }
        },
    }


def _audio_answer() -> dict[str, Any]:
    content: dict[str, Any] = {
        media: {"schema": {"type": "string", "format": "binary"}} for media in sorted(set(AUDIO_TYPES.values()))
    }
    # With "stream_format": "sse".
    content["text/event-stream"] = {"schema": SSE_EVENT}
    return {
        "200": {
            "description": "The audio itself (not JSON), streamed as it is rendered; Content-Type names the format",
            "content": content,
        }
    }


def _transcript_answer(envelope: bool) -> dict[str, Any]:
    json_schema = (
        _ref("NativeTranscript")
        if envelope
        else {"anyOf": [_ref("OpenAITranscript"), _ref("OpenAIVerboseTranscript"), _ref("DiarizedTranscript")]}
    )
    content: dict[str, Any] = {
        "application/json": {"schema": json_schema},
        "application/x-subrip": {"schema": {"type": "string"}},
        "text/vtt": {"schema": {"type": "string"}},
        "text/event-stream": {"schema": SSE_EVENT},
    }
    if not envelope:
        content["text/plain"] = {"schema": {"type": "string"}}
    return {"200": {"description": "The transcript, in the format asked for", "content": content}}


def _model_path() -> list[dict[str, Any]]:
    return [
        {
            "name": "model",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "examples": {"alias": {"value": "whisper-1"}},
        }
    ]


def _paths(models: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    native = {
        "/v1/inference/audio/transcribe": {
            "post": {
                "tags": ["native"],
                "summary": "Transcribe audio",
                "operationId": "transcribe",
                "requestBody": _transcription_form("text", models),
                "responses": {**_transcript_answer(True), **_errors("NativeError", *TRANSCRIBE_ERRORS)},
            }
        },
        "/v1/inference/audio/synthesize": {
            "post": {
                "tags": ["native"],
                "summary": "Synthesize speech",
                "operationId": "synthesize",
                "requestBody": _speech_body(),
                "responses": {**_audio_answer(), **_errors("NativeError", *SPEECH_ERRORS)},
            }
        },
        "/v1/models": {
            "get": {
                "tags": ["native"],
                "summary": "Every registry entry with its state",
                "operationId": "listModels",
                "responses": {
                    "200": {
                        "description": "Models",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status", "data"],
                                    "properties": {
                                        "status": {"const": "ok"},
                                        "data": {"type": "array", "items": _ref("NativeModel")},
                                    },
                                }
                            }
                        },
                    },
                    **_errors("NativeError", 401, 405),
                },
            }
        },
        "/v1/models/{model}": {
            "parameters": _model_path(),
            "get": {
                "tags": ["native"],
                "summary": "One model, with the progress of a pull",
                "operationId": "getModel",
                "responses": {
                    "200": {
                        "description": "The model",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status", "data"],
                                    "properties": {"status": {"const": "ok"}, "data": _ref("NativeModel")},
                                }
                            }
                        },
                    },
                    **_errors("NativeError", 401, 404),
                },
            },
            "post": {
                "tags": ["native"],
                "summary": "Pull a model in the background (needs AUDIO_ALLOW_DOWNLOAD=1 and API keys)",
                "operationId": "pullModel",
                "responses": {
                    "202": {
                        "description": "The pull started",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "403": {
                        "description": "Runtime management is off",
                        "content": {"application/json": {"schema": _ref("NativeError")}},
                    },
                    **_errors("NativeError", 400, 401),
                },
            },
            "delete": {
                "tags": ["native"],
                "summary": "Remove a pulled or imported model",
                "operationId": "removeModel",
                "responses": {
                    "200": {"description": "Removed", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "403": {
                        "description": "Runtime management is off",
                        "content": {"application/json": {"schema": _ref("NativeError")}},
                    },
                    "409": {
                        "description": "Part of the installation",
                        "content": {"application/json": {"schema": _ref("NativeError")}},
                    },
                    **_errors("NativeError", 401, 404),
                },
            },
        },
    }
    listing = {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("OpenAIModel")}},
    }
    openai = {
        "/oai/v1/audio/transcriptions": {
            "post": {
                "tags": ["openai"],
                "summary": "Transcribe audio (OpenAI shape)",
                "operationId": "createTranscription",
                "requestBody": _transcription_form("json", models),
                "responses": {**_transcript_answer(False), **_errors("OpenAIError", *TRANSCRIBE_ERRORS)},
            }
        },
        "/oai/v1/audio/translations": {
            "post": {
                "tags": ["openai"],
                "summary": "Translate speech into English text",
                "operationId": "createTranslation",
                "requestBody": _transcription_form("json", models, translate=True),
                "responses": {**_transcript_answer(False), **_errors("OpenAIError", *TRANSCRIBE_ERRORS)},
            }
        },
        "/oai/v1/audio/speech": {
            "post": {
                "tags": ["openai"],
                "summary": "Synthesize speech (OpenAI shape)",
                "operationId": "createSpeech",
                "requestBody": _speech_body(),
                "responses": {**_audio_answer(), **_errors("OpenAIError", *SPEECH_ERRORS)},
            }
        },
        "/oai/v1/audio/voices": {
            "get": {
                "tags": ["openai"],
                "summary": "Voice names usable now, with the Piper voice and speaker each uses",
                "operationId": "listVoices",
                "responses": {
                    "200": {
                        "description": "Voices",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["voices", "data"],
                                    "properties": {
                                        "voices": {"type": "array", "items": _ref("Voice")},
                                        "data": {"type": "array", "items": _ref("Voice")},
                                    },
                                }
                            }
                        },
                    },
                    **_errors("OpenAIError", 401),
                },
            }
        },
        "/oai/v1/models": {
            "get": {
                "tags": ["openai"],
                "summary": "Models usable now",
                "operationId": "listOpenAIModels",
                "responses": {
                    "200": {"description": "Models", "content": {"application/json": {"schema": listing}}},
                    **_errors("OpenAIError", 401),
                },
            }
        },
        "/oai/v1/models/{model}": {
            "parameters": _model_path(),
            "get": {
                "tags": ["openai"],
                "summary": "One model",
                "operationId": "retrieveOpenAIModel",
                "responses": {
                    "200": {
                        "description": "The model",
                        "content": {"application/json": {"schema": _ref("OpenAIModel")}},
                    },
                    **_errors("OpenAIError", 401, 404),
                },
            },
        },
    }
    return native, openai


def _native(schema: dict[str, Any]) -> dict[str, Any]:
    """The native envelope around `schema`, as JSON."""
    return {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["status", "data"],
                "properties": {"status": {"const": "ok"}, "data": schema},
            }
        }
    }


def _native_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("NativeError")}}}


def _jobs(settings: Settings, models: list[str]) -> dict[str, Any]:
    """The jobs routes: submit a recording, follow it, fetch its transcript, list, cancel and delete."""
    form = _transcription_form("json", models)
    fields = form["content"]["multipart/form-data"]["schema"]["properties"]
    del fields["stream"]  # a job is followed by polling, not streamed
    fields["response_format"]["description"] = "The result's default format; any other can be asked of it later"
    job_path = [
        {
            "name": "job_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "examples": {"job": {"value": "job_5f0c2a9e41d7b3c86e0a1f27"}},
        }
    ]
    not_found = {"404": _native_error("`job_not_found`: no such job, or it is another API key's, or it was deleted")}
    upload_mb = settings.max_job_upload_bytes / (1024 * 1024)
    deleted = {
        "allOf": [_ref("Job"), {"type": "object", "required": ["deleted"], "properties": {"deleted": {"const": True}}}]
    }
    result = _transcript_answer(True)
    del result["200"]["content"]["text/event-stream"]
    result["200"]["description"] = (
        "The transcript, in the format asked for (`text` and `json`: the envelope's text, duration and "
        "language; `verbose_json`: with segments and words)"
    )
    return {
        PREFIX: {
            "post": {
                "tags": ["jobs"],
                "summary": "Submit a recording to be transcribed in the background",
                "description": "The same fields as the transcription route, but no `stream`. The file and model are "
                "checked now, as the transcription route checks them; the audio is then stored with the job, and "
                "transcribed window by window, whichever replica takes it. Words are always timed, so every format "
                f"can be asked of the result. At most {upload_mb:g} MB (AUDIO_MAX_JOB_UPLOAD_MB) and "
                f"{settings.max_job_audio_seconds:g} s of audio (AUDIO_MAX_JOB_AUDIO_SECONDS).",
                "operationId": "submitTranscriptionJob",
                "requestBody": form,
                "responses": {
                    "202": {
                        "description": "The job, queued",
                        "headers": {
                            "Location": {"description": "The job's URL", "schema": {"type": "string"}},
                        },
                        "content": _native(_ref("Job")),
                    },
                    **_errors("NativeError", 400, 401, 404, 408, 413, 415, 503),
                },
            },
            "get": {
                "tags": ["jobs"],
                "summary": "Jobs, newest first, a page at a time",
                "operationId": "listTranscriptionJobs",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 20},
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "description": "The `next_after` of the previous page: the jobs older than this one",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {"description": "A page of jobs", "content": _native(_ref("JobList"))},
                    **_errors("NativeError", 400, 401),
                },
            },
        },
        PREFIX + "/{job_id}": {
            "parameters": job_path,
            "get": {
                "tags": ["jobs"],
                "summary": "A job: its state and progress",
                "operationId": "getTranscriptionJob",
                "responses": {
                    "200": {"description": "The job", "content": _native(_ref("Job"))},
                    **_errors("NativeError", 401),
                    **not_found,
                },
            },
            "delete": {
                "tags": ["jobs"],
                "summary": "Cancel a job if it is queued or running, and delete it with its audio and transcript",
                "operationId": "deleteTranscriptionJob",
                "responses": {
                    "200": {
                        "description": "The job as it was, `cancelled` if it was queued or running",
                        "content": _native(deleted),
                    },
                    **_errors("NativeError", 401),
                    **not_found,
                },
            },
        },
        PREFIX + "/{job_id}/result": {
            "parameters": job_path,
            "get": {
                "tags": ["jobs"],
                "summary": "A finished job's transcript",
                "operationId": "getTranscriptionJobResult",
                "parameters": [
                    {
                        "name": "response_format",
                        "in": "query",
                        "description": "Default: the job's own `response_format`",
                        "schema": {"type": "string", "enum": list(TRANSCRIPT_FORMATS)},
                    }
                ],
                "responses": {
                    **result,
                    **_errors("NativeError", 400, 401),
                    **not_found,
                    "409": _native_error(
                        "`job_not_finished`: the job is queued or running (the message says how far it is); "
                        "`job_failed`: it failed, and has no result"
                    ),
                },
            },
        },
    }


def _socket(settings: Settings) -> str:
    """The realtime tag's description: the WebSocket itself, which OpenAPI 3.1 cannot describe."""
    return f"""Live transcription over OpenAI's realtime protocol (GA transcription sessions; the beta dialect \
for clients that send `OpenAI-Beta: realtime=v1`). OpenAPI has no WebSocket operations, so the socket is \
described here.

**WebSocket `GET {REALTIME}?intent=transcription`** (`wss://` when the server has a certificate: \
AUDIO_TLS_CERT/AUDIO_TLS_KEY). With API keys, the upgrade carries one: `Authorization: Bearer <key>`, or the \
subprotocol `openai-insecure-api-key.<key>` (browsers), a real key or an `ek_…` key from \
`POST {REALTIME}/client_secrets`. A refused key gets an `error` event (`invalid_api_key`) and close 3000; \
a socket without the intent gets `invalid_intent` and close 4000.

- **Client events** (JSON text frames): `session.update` (a `RealtimeTranscriptionSessionConfig` as \
`session`), `input_audio_buffer.append` (`audio`: base64 in the session's format), \
`input_audio_buffer.commit`, `input_audio_buffer.clear`.
- **Server events**: `session.created`, `session.updated`; per turn `input_audio_buffer.speech_started`, \
`input_audio_buffer.speech_stopped`, `input_audio_buffer.committed`, `conversation.item.added`, \
`conversation.item.done`, `conversation.item.input_audio_transcription.delta`… and `….completed` (or \
`….failed`); `error` for an event refused (the session goes on).
- **Deltas** by local agreement: a turn in progress is read again about every {REREAD_S:g} s and the words \
two readings in a row agree on are sent, so deltas only append; `completed` is the final reading of the turn.
- **Limits**: a session that sends no event for {settings.realtime_idle_s:g} s (AUDIO_REALTIME_IDLE_S) \
ends with `session_idle`, one that lasts {settings.realtime_max_s:g} s (AUDIO_REALTIME_MAX_S) with \
`session_expired`, both as an `error` event and close 1000; the socket is pinged every \
{settings.ws_ping_s:g} s (AUDIO_WS_PING_S)."""


def _realtime() -> dict[str, Any]:
    return {
        REALTIME + "/client_secrets": {
            "post": {
                "tags": ["realtime"],
                "summary": "A short-lived `ek_…` key for live transcription",
                "description": f"For a page (or any client that should not hold a real key) to open the live "
                f"transcription WebSocket `GET {REALTIME}?intent=transcription` with, as the subprotocol "
                "`openai-insecure-api-key.ek_…`. The key opens sessions only, not the HTTP routes, until "
                "`expires_at`. It is signed with a secret derived from the server's API keys and stored nowhere, "
                "so every replica with the same keys accepts it. `session`, when given, is checked as "
                "`session.update` checks it, and a session opened with the key starts as it says. "
                "Minting needs a real key when keys are configured.",
                "operationId": "createRealtimeClientSecret",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("RealtimeClientSecretRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "The key",
                        "content": {"application/json": {"schema": _ref("RealtimeClientSecret")}},
                    },
                    **_errors("OpenAIError", 400, 401, 405, 408, 413),
                },
            }
        }
    }


def _service() -> dict[str, Any]:
    status = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    return {
        "/health": {
            "get": {
                "tags": ["service"],
                "summary": "Liveness",
                "operationId": "health",
                "security": [{}],
                "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": status}}}},
            }
        },
        "/ready": {
            "get": {
                "tags": ["service"],
                "summary": "Readiness: preloaded models loaded, no queue saturated",
                "operationId": "ready",
                "security": [{}],
                "responses": {
                    "200": {"description": "Ready", "content": {"application/json": {"schema": _ref("Readiness")}}},
                    "503": {"description": "Not ready", "content": {"application/json": {"schema": _ref("Readiness")}}},
                },
            }
        },
        "/metrics": {
            "get": {
                "tags": ["service"],
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    **_errors("NativeError", 401),
                },
            }
        },
    }
