"""Typed API errors, rendered per surface: the native envelope or OpenAI's error body."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.responses import JSONResponse

from engines.models.registry import ModelEntry


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def bad_request(code: str, message: str, param: str | None = None) -> ApiError:
    return ApiError(400, code, message, param)


def missing(param: str) -> ApiError:
    return ApiError(400, "missing_field", f"'{param}' is required", param)


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_value", message, param)


def quoted(value: str, limit: int = 100) -> str:
    """A client's value for an error message: quoted, and cut short so that a message never echoes
    a huge input back."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def model_not_found(slug: str) -> ApiError:
    return ApiError(404, "model_not_found", f"The model {quoted(slug)} does not exist", "model")


def model_not_installed(entry: ModelEntry) -> ApiError:
    what = "a voice for it" if entry.source is None else "it"
    return ApiError(
        404,
        "model_not_installed",
        f"The model {quoted(entry.slug)} is known but not installed here; install {what} with "
        f"`python -m server models pull NAME`, or on a machine with no network `python -m server models import "
        "BUNDLE.tar` (see `python -m server models list`)",
        "model",
    )


def overloaded(code: str, message: str, status: int, retry_after: float) -> ApiError:
    return ApiError(status, code, message, headers={"Retry-After": str(max(1, round(retry_after)))})


def native_response(error: ApiError) -> JSONResponse:
    body = {
        "status": "error",
        "error": {"code": error.code, "message": error.message, "param": error.param},
    }
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def openai_response(error: ApiError) -> JSONResponse:
    body = {
        "error": {
            "message": error.message,
            "type": _openai_type(error.status),
            "param": error.param,
            "code": error.code,
        }
    }
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _openai_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"
