"""Which surface a path belongs to, and so how its errors are rendered."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.errors import ApiError, native_response, openai_response

OPENAI_PREFIX = "/oai/v1"


def error_response(path: str, error: ApiError) -> JSONResponse:
    on_openai = path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")
    return openai_response(error) if on_openai else native_response(error)


async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request.url.path, exc)


async def on_client_gone(request: Request, exc: Exception) -> Response:
    # Nobody is listening; 499 (nginx's "client closed request") keeps the logs honest.
    return Response(status_code=499)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    error = ApiError(
        exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), headers=dict(exc.headers or {})
    )
    return error_response(request.url.path, error)
