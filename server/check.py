"""`python -m server check`: validate everything a start would need, without serving, and say what would be served."""

from __future__ import annotations

from engines.models.registry import Source
from engines.models.registry_files import load_registry
from engines.models.sources import ModelSourceError, materialize
from server.config import Settings


def check(settings: Settings) -> int:
    """0 when every model and voice is servable or merely not pulled yet, 1 when a packaged or local one
    fails its check (each is named), 2 on a configuration error."""
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    print(f"ok  environment: {len(settings.api_keys)} API key(s), uploads up to {settings.max_upload_bytes >> 20} MB")
    print(f"ok  registry: {settings.models_path} ({len(registry.models)} models, {len(registry.voices)} voices)")
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    print(f"ok  cache: {settings.cache_dir}")
    problems = 0
    named: list[tuple[str, Source, str, str]] = [
        (e.slug, e.source, e.task, ", ".join(e.aliases)) for e in registry.models.values() if e.source
    ]
    named += [(v.name, v.source, "voice", "") for v in registry.voices.values()]
    for name, source, kind, aliases in named:
        try:
            path = materialize(source, name, settings.cache_dir, allow_download=False)
        except ModelSourceError as exc:
            # A hub model that was never pulled is optional; a packaged or local one that fails is not.
            problems += source.hub is None
            print(f"--  {name} ({kind}): not servable: {exc}")
            continue
        also = f" [{aliases}]" if aliases else ""
        print(f"ok  {name} ({kind}){also}: {path}")
    speech = [e.slug for e in registry.models.values() if e.task == "synthesis"]
    print(f"ok  synthesis models: {', '.join(speech)}; voice names: {', '.join(registry.voice_map)}")
    return 1 if problems else 0
