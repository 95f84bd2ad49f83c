"""The OpenAPI document's component schemas: the bodies the surfaces take and give."""

from __future__ import annotations

from typing import Any

from engines.audio.encode import FORMATS
from server.config import Settings
from server.jobs.store import STATES
from server.realtime.secrets import DEFAULT_S, MAX_S, MIN_S
from server.realtime.session import EAGERNESS_SILENCE_MS, PCM_RATE
from server.render import TRANSCRIPT_FORMATS


def schemas(
    settings: Settings, models: list[str], voices: list[str], transcription_models: list[str] | None = None
) -> dict[str, Any]:
    """`models` are the synthesis models' names, `transcription_models` those a live session may name."""
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
            "speaker": {"type": "string", "description": "Who said it, when the request tells speakers apart"},
        },
    }
    word = {
        "type": "object",
        "required": ["word", "start", "end"],
        "properties": {"word": {"type": "string"}, "start": number, "end": number, "speaker": {"type": "string"}},
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
                "language": {
                    "type": "string",
                    "description": "The language to speak (en, ja): a voice that speaks another moves to an "
                    "installed voice of this language, of the same gender where one is",
                },
            },
        },
        "NativeTranscript": {
            "type": "object",
            "required": ["status", "data"],
            "properties": {
                "status": {"const": "ok"},
                "data": {
                    "anyOf": [
                        {
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
                        {"$ref": "#/components/schemas/DiarizedTranscript"},
                    ]
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
        "DiarizedTranscript": {
            "type": "object",
            "description": "response_format=diarized_json: the transcript cut where the speaker changes",
            "required": ["task", "duration", "text", "segments"],
            "properties": {
                "task": {"const": "transcribe"},
                "duration": number,
                "text": {"type": "string"},
                "segments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "id", "start", "end", "text", "speaker"],
                        "properties": {
                            "type": {"const": "transcript.text.segment"},
                            "id": {"type": "string", "examples": ["seg_0"]},
                            "start": number,
                            "end": number,
                            "text": {"type": "string"},
                            "speaker": {
                                "type": "string",
                                "description": "A known speaker's name, else A, B, ... in order of first appearance",
                            },
                        },
                    },
                },
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
                "diarizing_aliases": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Names that ask this transcription model for speaker diarization too",
                },
                "task": {"enum": ["transcription", "synthesis", "diarization"]},
                "description": {"type": "string"},
                "license": {"type": "string", "description": "The weights' licence (SPDX); empty when unknown"},
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
                "license": {"type": "string"},
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
                "language": {"type": ["string", "null"], "description": "BCP 47, lower case: en-us, ja"},
                "gender": {"enum": ["female", "male", None]},
            },
        },
        **_jobs(error_body),
        **_realtime(transcription_models or []),
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


def _realtime(models: list[str]) -> dict[str, Any]:
    """A live transcription session's configuration as a client sends it (`session.update`, or with
    `POST /oai/v1/realtime/client_secrets`), the session as the server shows it, and an `ek_…` key."""
    ms = {"type": "integer", "minimum": 0, "maximum": 10000}
    ignored = {"description": "Accepted and ignored (a transcription session makes no responses)"}
    formats = [
        {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"const": "audio/pcm"},
                "rate": {"const": PCM_RATE, "description": "16-bit little-endian mono at 24 kHz, no other rate"},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["audio/pcmu", "audio/pcma"], "description": "G.711 at 8 kHz"}},
            "additionalProperties": False,
        },
    ]
    server_vad = {
        "type": "object",
        "required": ["type"],
        "description": "Turns by the level of the audio (not a neural VAD): a threshold of 0.5 is -40 dBFS, "
        "0 is -60 and 1 is -20. A turn starts at speech, reaching back `prefix_padding_ms`, and ends after "
        "`silence_duration_ms` of silence; one over 30 s is cut at its quietest moment and goes on as the next",
        "properties": {
            "type": {"const": "server_vad"},
            "threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "prefix_padding_ms": {**ms, "default": 300},
            "silence_duration_ms": {**ms, "default": 200},
            "create_response": {"type": "boolean", **ignored},
            "interrupt_response": {"type": "boolean", **ignored},
            "idle_timeout_ms": {"type": ["integer", "null"], **ignored},
        },
        "additionalProperties": False,
    }
    semantic_vad = {
        "type": "object",
        "required": ["type"],
        "description": "Taken as server_vad whose silence is set by `eagerness` (low 1000 ms, medium and auto "
        "600 ms, high 300 ms): this server hears no semantics",
        "properties": {
            "type": {"const": "semantic_vad"},
            "eagerness": {"enum": list(EAGERNESS_SILENCE_MS), "default": "auto"},
            "create_response": {"type": "boolean", **ignored},
            "interrupt_response": {"type": "boolean", **ignored},
        },
        "additionalProperties": False,
    }
    turn_detection = {
        "anyOf": [{"type": "null"}, server_vad, semantic_vad],
        "description": "null: no turns are found; the client commits the buffer itself",
    }
    noise_reduction = {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": ["near_field", "far_field"]}},
                "additionalProperties": False,
            },
        ],
        "description": "Accepted and echoed, not applied",
    }
    include = {
        "anyOf": [
            {"type": "null"},
            {"type": "array", "items": {"const": "item.input_audio_transcription.logprobs"}},
        ],
        "description": "Accepted and echoed; no logprobs are sent",
    }
    nullable_text = {"type": ["string", "null"]}
    transcription_in = {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "required": ["model"],
                "properties": {
                    "model": {"type": "string", "enum": models, "description": "A transcription model slug or alias"},
                    "language": {**nullable_text, "examples": ["en"], "description": "ISO-639-1 code"},
                    "prompt": {**nullable_text, "description": "Text that biases each turn's transcript"},
                },
                "additionalProperties": False,
            },
        ],
        "description": "null (the default): turns are found, but their transcripts are empty",
    }
    config = {
        "type": "object",
        "description": "A GA transcription session's settings; each part left out keeps its value",
        "properties": {
            "type": {"const": "transcription"},
            "audio": {
                "type": "object",
                "properties": {
                    "input": {
                        "type": "object",
                        "properties": {
                            "format": {"anyOf": formats, "description": "Default: audio/pcm at 24000 Hz"},
                            "transcription": transcription_in,
                            "turn_detection": turn_detection,
                            "noise_reduction": noise_reduction,
                        },
                        "additionalProperties": False,
                    }
                },
                "additionalProperties": False,
            },
            "include": include,
        },
        "additionalProperties": False,
        "examples": [
            {
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": PCM_RATE},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500},
                    }
                },
            }
        ],
    }
    transcription_out = {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "required": ["model", "language", "prompt"],
                "properties": {
                    "model": {"type": "string", "description": "The model's slug"},
                    "language": nullable_text,
                    "prompt": nullable_text,
                },
            },
        ]
    }
    session = {
        "type": "object",
        "required": ["type", "object", "id", "expires_at", "audio", "include"],
        "properties": {
            "type": {"const": "transcription"},
            "object": {"const": "realtime.transcription_session"},
            "id": {"type": "string", "pattern": "^sess_"},
            "expires_at": {"type": "integer"},
            "audio": {
                "type": "object",
                "required": ["input"],
                "properties": {
                    "input": {
                        "type": "object",
                        "required": ["format", "transcription", "noise_reduction", "turn_detection"],
                        "properties": {
                            "format": {"anyOf": formats},
                            "transcription": transcription_out,
                            "noise_reduction": noise_reduction,
                            "turn_detection": turn_detection,
                        },
                    }
                },
            },
            "include": include,
        },
    }
    return {
        "RealtimeTranscriptionSessionConfig": config,
        "RealtimeTranscriptionSession": session,
        "RealtimeClientSecretRequest": {
            "type": "object",
            "properties": {
                "expires_after": {
                    "type": "object",
                    "properties": {
                        "anchor": {"const": "created_at", "default": "created_at"},
                        "seconds": {"type": "integer", "minimum": MIN_S, "maximum": MAX_S, "default": DEFAULT_S},
                    },
                    "description": f"How long the key opens sessions: {DEFAULT_S} s unless given",
                },
                "session": {
                    "$ref": "#/components/schemas/RealtimeTranscriptionSessionConfig",
                    "description": "Checked as `session.update` checks it; the key carries it (signed), and a "
                    "session opened with the key starts as it says",
                },
            },
            "examples": [
                {
                    "expires_after": {"anchor": "created_at", "seconds": 600},
                    "session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}},
                }
            ],
        },
        "RealtimeClientSecret": {
            "type": "object",
            "required": ["value", "expires_at", "session"],
            "properties": {
                "value": {"type": "string", "pattern": "^ek_", "description": "The key: it opens sessions only"},
                "expires_at": {"type": "integer", "description": "Unix time in seconds"},
                "session": {"$ref": "#/components/schemas/RealtimeTranscriptionSession"},
            },
        },
    }
