"""The OpenAPI 3.1 document of both surfaces, served at /openapi.json and rendered at /docs."""

from __future__ import annotations

from typing import Any

from engines.audio.encode import FORMATS
from engines.models.registry import Registry
from server.config import Settings
from server.openapi_schemas import schemas
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
    503: "Timed out, or the model could not be loaded; retry after `Retry-After` seconds",
}
SSE_EVENT = {
    "description": "One server-sent event; its data is a JSON object with a `type` "
    "(transcript.text.delta/done, speech.audio.delta/done, error)",
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "contentMediaType": "application/json"}, "event": {"type": "string"}},
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}


def document(settings: Settings, registry: Registry) -> dict[str, Any]:
    """The document for this server: its limits, and the model and voice names of its registry."""
    names = {
        task: sorted(n for e in registry.models.values() if e.task == task for n in (e.slug, *e.aliases))
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
            '`{"status", "data"}` envelope, and OpenAI-compatible routes under `/oai/v1`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {}],
        "tags": [
            {"name": "native", "description": "The native API"},
            {"name": "openai", "description": "OpenAI-compatible routes"},
            {"name": "service", "description": "Health, readiness and metrics"},
        ],
        "paths": {**native, **openai, **_service()},
        "components": {
            "schemas": schemas(settings, names["synthesis"], voices),
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
        if status in (429, 503):
            answer["headers"] = RETRY_AFTER
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
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file", "model"], "properties": properties},
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
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
        _ref("NativeTranscript") if envelope else {"anyOf": [_ref("OpenAITranscript"), _ref("OpenAIVerboseTranscript")]}
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
