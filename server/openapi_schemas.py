"""The OpenAPI document's component schemas: the bodies the surfaces take and give."""

from __future__ import annotations

from typing import Any

from engines.audio.encode import FORMATS
from server.config import Settings
from server.jobs.store import STATES
from server.render import TRANSCRIPT_FORMATS


def schemas(settings: Settings, models: list[str], voices: list[str]) -> dict[str, Any]:
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
        **_jobs(error_body),
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


def _jobs(error_body: dict[str, Any]) -> dict[str, Any]:
    """A transcription job as the jobs routes show it, and a page of them."""
    seconds = {"type": ["number", "null"], "description": "Unix time in seconds; null until then"}
    return {
        "Job": {
            "type": "object",
            "required": [
                "id",
                "object",
                "state",
                "model",
                "filename",
                "response_format",
                "language",
                "created_at",
                "started_at",
                "finished_at",
                "progress",
                "error",
                "result_url",
            ],
            "properties": {
                "id": {"type": "string", "examples": ["job_5f0c2a9e41d7b3c86e0a1f27"]},
                "object": {"const": "transcription.job"},
                "state": {
                    "enum": list(STATES),
                    "description": "queued, running, then succeeded or failed; cancelled only in the answer to DELETE",
                },
                "model": {"type": "string", "description": "The model's slug"},
                "filename": {"type": ["string", "null"]},
                "response_format": {
                    "enum": list(TRANSCRIPT_FORMATS),
                    "description": "The result's format when the result route is not asked for another",
                },
                "language": {
                    "type": ["string", "null"],
                    "description": "As given, or as detected in the first window; null until then",
                },
                "created_at": {"type": "number", "description": "Unix time in seconds"},
                "started_at": seconds,
                "finished_at": seconds,
                "progress": {
                    "type": "object",
                    "required": ["audio_seconds_done", "audio_seconds_total", "fraction"],
                    "properties": {
                        "audio_seconds_done": {"type": "number", "minimum": 0},
                        "audio_seconds_total": {
                            "type": ["number", "null"],
                            "description": "Null when the file does not declare its length",
                        },
                        "fraction": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                    },
                },
                "error": {"anyOf": [{"type": "null"}, error_body], "description": "Why a failed job failed"},
                "result_url": {
                    "type": ["string", "null"],
                    "description": "Where the transcript is, once the job has succeeded",
                },
            },
        },
        "JobList": {
            "type": "object",
            "required": ["jobs", "has_more", "next_after"],
            "properties": {
                "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                "has_more": {"type": "boolean"},
                "next_after": {
                    "type": ["string", "null"],
                    "description": "With more to come: the `after` of the next page",
                },
            },
        },
    }
