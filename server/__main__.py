"""Command line: `python -m server [serve|check|verify|models ...|jobs ...|download NAME]`."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Mapping

from engines.models.registry import RegistryError
from engines.models.registry_files import load_registry
from engines.models.sources import ModelSourceError, materialize
from server import models_cli
from server.config import ConfigError, Settings
from server.jobs import cli as jobs_cli


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run a command; `env` stands in for the process environment (the AUDIO_* settings)."""
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP server (the default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--wyoming", metavar="URI", help="also serve Wyoming at tcp://HOST:PORT or unix://PATH")
    serve.add_argument("--zeroconf", action="store_true", help="announce the Wyoming listener for Home Assistant")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS and WSS with this PEM certificate (chain)")
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's PEM private key")
    sub.add_parser(
        "check",
        help="validate the environment, models.toml, the model files and the cache, then say what would be served",
    )
    sub.add_parser("verify", help="check every packaged model file against its pinned sha256")
    fetch = sub.add_parser("download", help="the same as `models pull NAME`")
    fetch.add_argument("name", help="a Whisper size, a hub repository, or a Piper voice name")
    models_cli.add_parser(sub)
    jobs_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        # `python -m server` alone serves, with the serve command's own defaults.
        args = parser.parse_args(["serve", *(argv if argv is not None else sys.argv[1:])])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(env)
        if args.command == "check":
            from server.check import check

            return check(settings)
        if args.command == "verify":
            return _verify(settings)
        if args.command == "download":
            return models_cli.run(argparse.Namespace(verb="pull", names=[args.name]), settings)
        if args.command == "models":
            return models_cli.run(args, settings)
        if args.command == "jobs":
            return jobs_cli.run(args, settings)
        if args.wyoming or args.zeroconf or args.tls_cert or args.tls_key:
            env = {**(env if env is not None else os.environ)}
            if args.wyoming:
                env["AUDIO_WYOMING_URI"] = args.wyoming
            if args.zeroconf:
                env["AUDIO_WYOMING_ZEROCONF"] = "1"
            if args.tls_cert or args.tls_key:
                env["AUDIO_TLS_CERT"] = args.tls_cert or ""
                env["AUDIO_TLS_KEY"] = args.tls_key or ""
            settings = Settings.from_env(env)
        return _serve(settings, args.host, args.port, args.log_level)
    except (ConfigError, RegistryError, ModelSourceError) as exc:
        # One line that names the variable or the file and key: no traceback for a configuration mistake.
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _serve(settings: Settings, host: str, port: int, log_level: str) -> int:
    import uvicorn

    from server.app import create_app
    from server.protocol import guarded_protocol
    from server.requestlog import configure_logging

    configure_logging(settings.log_format, log_level)
    app = create_app(settings)
    # The app logs one line per request itself (with its id), so uvicorn's access log is off, and
    # uvicorn logs through the same handler instead of its own configuration.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=math.ceil(settings.keep_alive_s),
        http=guarded_protocol(settings.header_timeout_s),
        ws_ping_interval=settings.ws_ping_s,
        ws_ping_timeout=settings.ws_ping_s,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
    )
    return 0


def _verify(settings: Settings) -> int:
    """Check the packaged (embedded) sources; hub sources are checked when downloaded."""
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    sources = [(e.slug, e.source) for e in registry.models.values() if e.source is not None]
    sources += [(v.name, v.source) for v in registry.voices.values()]
    for name, source in sources:
        if source.files:
            path = materialize(source, name, settings.cache_dir)
            print(f"ok  {name}: {len(source.files)} files verified in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
