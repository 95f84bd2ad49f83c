"""What a person opens in a browser: the try-it page at /, the API document and its docs at /docs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from server.core import Core
from server.openapi import document

STATIC = Path(__file__).parent / "static"
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>audio-server API</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="docs"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""


async def index(request: Request) -> HTMLResponse:
    core: Core = request.app.state.core
    settings = core.settings
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    # Server facts the page's script reads from <body>'s data attributes.
    facts = {
        "__MAX_INPUT_CHARS__": str(settings.max_input_chars),
        "__PAGE_JOB_SECONDS__": str(settings.page_job_seconds),
    }
    for placeholder, value in facts.items():
        page = page.replace(placeholder, value)
    return HTMLResponse(page)


async def favicon(request: Request) -> FileResponse:
    # Pages that link no icon (the API docs) make browsers ask for /favicon.ico: the SVG answers there too.
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


async def openapi(request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    return JSONResponse(document(core.settings, core.registry))


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


def _swagger_assets() -> Path | None:
    """Swagger UI's files, as the swagger-ui-py package ships them: nothing is fetched from a CDN."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if folder.is_dir() else None


def routes() -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route("/", index, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    assets = _swagger_assets()
    if assets is not None:
        found.append(Mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets"))
    return found
