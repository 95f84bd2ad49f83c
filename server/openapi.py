"""The OpenAPI 3.1 document of both surfaces, served at /openapi.json and rendered at /docs."""

from __future__ import annotations

from typing import Any

from engines.audio_encode import FORMATS
from engines.registry import Registry
from server.config import Settings
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
            "schemas": _schemas(settings, names["synthesis"], voices),
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
            "description": "Skip non-speech before decoding (server default: AUDIO_VAD_DEFAULT)",
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


def _schemas(settings: Settings, models: list[str], voices: list[str]) -> dict[str, Any]:
    number = {"type": "number"}
    segment = {
        "type": "object",
        "required": ["id", "start", "end", "text"],
        "properties": {
            "id": {"type": "integer"},
            "seek": {"type": "integer"},
            "start": number,
            "end": number,
            "text": {"type": "string"},
            "tokens": {"type": "array", "items": {"type": "integer"}},
            "temperature": number,
            "avg_logprob": number,
            "compression_ratio": number,
            "no_speech_prob": number,
        },
    }
    word = {
        "type": "object",
        "required": ["word", "start", "end"],
        "properties": {"word": {"type": "string"}, "start": number, "end": number},
    }
    usage = {"type": "object", "properties": {"type": {"const": "duration"}, "seconds": number}}
    error_body: dict[str, Any] = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "examples": ["voice_not_found"]},
            "message": {"type": "string"},
            "param": {"type": ["string", "null"]},
        },
    }
    return {
        "SpeechRequest": {
            "type": "object",
            "required": ["model", "input", "voice"],
            "properties": {
                "model": {"type": "string", "enum": models},
                "input": {"type": "string", "minLength": 1, "maxLength": settings.max_input_chars},
                "voice": {
                    "anyOf": [
                        {"type": "string", "enum": voices},
                        {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "string", "enum": voices}},
                        },
                    ]
                },
                "response_format": {"type": "string", "enum": list(FORMATS), "default": "mp3"},
                "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0, "default": 1.0},
                "stream_format": {"type": "string", "enum": ["audio", "sse"], "default": "audio"},
                "instructions": {
                    "type": "string",
                    "description": "Accepted and ignored: Piper voices take no instructions",
                },
                "normalize": {
                    "type": "boolean",
                    "description": "Spell out markup, links, numbers, currency, dates and units before speaking "
                    "(server default: on)",
                },
                "read_emoji": {"type": "boolean", "default": False, "description": "Read emoji by name"},
            },
        },
        "NativeTranscript": {
            "type": "object",
            "required": ["status", "data"],
            "properties": {
                "status": {"const": "ok"},
                "data": {
                    "type": "object",
                    "required": ["text", "duration", "language"],
                    "properties": {
                        "text": {"type": "string"},
                        "duration": number,
                        "language": {"type": "string"},
                        "task": {"type": "string"},
                        "segments": {"type": "array", "items": segment},
                        "words": {"type": "array", "items": word},
                    },
                },
            },
        },
        "OpenAITranscript": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string"}, "usage": usage},
        },
        "OpenAIVerboseTranscript": {
            "type": "object",
            "required": ["text", "language", "duration"],
            "properties": {
                "task": {"type": "string"},
                "language": {"type": "string"},
                "duration": number,
                "text": {"type": "string"},
                "segments": {"type": "array", "items": segment},
                "words": {"type": "array", "items": word},
                "usage": usage,
            },
        },
        "NativeError": {
            "type": "object",
            "required": ["status", "error"],
            "properties": {"status": {"const": "error"}, "error": error_body},
            "examples": [
                {
                    "status": "error",
                    "error": {"code": "model_not_found", "message": "The model 'x' does not exist", "param": "model"},
                }
            ],
        },
        "OpenAIError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    **error_body,
                    "required": ["message", "type", "code"],
                    "properties": {**error_body["properties"], "type": {"type": "string"}},
                }
            },
        },
        "NativeModel": {
            "type": "object",
            "required": ["id", "state"],
            "properties": {
                "id": {"type": "string"},
                "aliases": {"type": "array", "items": {"type": "string"}},
                "task": {"enum": ["transcription", "synthesis"]},
                "description": {"type": "string"},
                "state": {"enum": ["installed", "not downloaded"]},
                "loaded": {"type": "boolean"},
                "voices": {"type": "object"},
                "pull": {"type": "object"},
            },
        },
        "OpenAIModel": {
            "type": "object",
            "required": ["id", "object", "created", "owned_by"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "model"},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
                "task": {"type": "string"},
                "root": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "Voice": {
            "type": "object",
            "required": ["id", "voice"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "voice": {"type": "string"},
                "speaker_id": {"type": ["integer", "null"]},
            },
        },
        "Readiness": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["ok", "unavailable"]},
                "models_loaded": {"type": "array", "items": {"type": "string"}},
                "preloaded": {"type": "boolean"},
                "errors": {"type": "array", "items": {"type": "string"}},
                "saturated": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
