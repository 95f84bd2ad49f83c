"""Command line: `python -m server [serve|verify|download NAME]`."""

from __future__ import annotations

import argparse
import logging
import sys

from engines.registry import RegistryError, load_registry
from engines.sources import ModelSourceError, download, materialize
from server.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP server (the default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    sub.add_parser("verify", help="check every packaged model file against its pinned sha256")
    fetch = sub.add_parser("download", help="fetch a hub model or voice into the cache (needs internet)")
    fetch.add_argument("name", help="model slug, alias, or voice name")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "verify":
            return _verify(settings)
        if args.command == "download":
            return _download(settings, args.name)
        return _serve(
            settings,
            getattr(args, "host", "127.0.0.1"),
            getattr(args, "port", 8000),
            getattr(args, "log_level", "info"),
        )
    except (RegistryError, ModelSourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _serve(settings: Settings, host: str, port: int, log_level: str) -> int:
    import uvicorn

    from server.app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
    return 0


def _verify(settings: Settings) -> int:
    """Check the packaged (embedded) sources; hub sources are checked when downloaded."""
    registry = load_registry(settings.models_path)
    sources = [(e.slug, e.source) for e in registry.models.values() if e.source is not None]
    sources += [(v.name, v.source) for v in registry.voices.values()]
    for name, source in sources:
        if source.files:
            path = materialize(source, name, settings.cache_dir)
            print(f"ok  {name}: {len(source.files)} files verified in {path}")
    return 0


def _download(settings: Settings, name: str) -> int:
    registry = load_registry(settings.models_path)
    entry = registry.resolve(name)
    if entry is not None and entry.source is not None:
        path = download(entry.source, entry.slug, settings.cache_dir)
    elif name in registry.voices:
        path = download(registry.voices[name].source, name, settings.cache_dir)
    else:
        print(
            f"error: {name!r} is neither a transcription model nor a voice in {settings.models_path}", file=sys.stderr
        )
        return 2
    print(f"ok  {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
