"""`python -m server models list|pull|bundle|import|remove|map`: models in and out of air-gapped sites."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from engines.models import bundle, catalog, store
from engines.models.bundle import BundleError, Packed
from engines.models.inventory import Item, installed, inventory
from engines.models.registry import Registry, RegistryError
from engines.models.registry_files import load_document, load_registry
from engines.models.sources import ModelSourceError, materialize
from server.config import Settings

VOICE_MAP_FRAGMENT = "zz-voice-map.toml"
"""Where `models map` writes; sorted last, so it wins over what `pull` and `import` wrote."""


def add_parser(sub: Any) -> None:
    models = sub.add_parser(
        "models",
        help="list, pull, bundle, import and remove models and voices",
        description="Models and voices: what is installed, fetching them from a hub or a mirror (HF_ENDPOINT), "
        "and carrying them to machines with no network as one bundle file. Exit codes: 0 done, 1 failed, 2 misuse.",
    )
    verbs = models.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    verbs.add_parser("list", help="every model and voice: aliases, task, source, state, size, languages")
    pull = verbs.add_parser(
        "pull",
        help="fetch models or voices from the hub (or the mirror in HF_ENDPOINT) and make them servable",
        description="NAME is a Whisper size (tiny, base, small, medium, large-v3, tiny.en, ...), distil-large-v3, "
        "a repository such as Systran/faster-whisper-small, a Piper voice such as en_US-amy-medium or "
        "de_DE-thorsten-medium, or a Kokoro voice such as kokoro-af_bella, kokoro-am_michael or kokoro-bf_emma. "
        "An interrupted pull resumes when run again.",
    )
    pull.add_argument("names", nargs="+", metavar="NAME")
    pack = verbs.add_parser("bundle", help="write installed models (all, or the NAMEs) into one tar file")
    pack.add_argument("out", type=Path, metavar="OUT.tar")
    pack.add_argument("names", nargs="*", metavar="NAME")
    unpack = verbs.add_parser("import", help="check a bundle's every sha256, then install what it holds")
    unpack.add_argument("bundle", type=Path, metavar="IN.tar")
    remove = verbs.add_parser("remove", help="delete a pulled or imported model or voice")
    remove.add_argument("name", metavar="NAME")
    mapping = verbs.add_parser("map", help="speak an OpenAI voice name with an installed voice (and speaker)")
    mapping.add_argument("name", metavar="VOICE_NAME", help="alloy, nova, onyx, ...")
    mapping.add_argument("voice", metavar="PIPER_VOICE")
    mapping.add_argument("--speaker", type=int, default=None, help="speaker id, for a multi-speaker voice")


def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = load_registry(settings.models_path, settings.overlay_dirs)
    verb = args.verb
    if verb == "list":
        print_table(inventory(registry, settings.cache_dir))
        return 0
    if verb == "pull":
        return max(_pull(name, settings) for name in args.names)
    if verb == "bundle":
        return _bundle(args.out, args.names, registry, settings)
    if verb == "import":
        return _import(args.bundle, settings)
    if verb == "remove":
        return _remove(args.name, registry, settings)
    return _map(args.name, args.voice, args.speaker, registry, settings)


def print_table(items: list[Item]) -> None:
    rows = [("NAME", "TASK", "STATE", "SIZE", "SOURCE", "LANGUAGES / VOICES", "LICENSE", "ALIASES")]
    for item in items:
        size = f"{item.size_bytes / 1e6:.0f} MB" if item.size_bytes else "-"
        licence = item.license or "-"
        rows.append(
            (item.name, item.kind, item.state, size, item.source, item.languages, licence, ", ".join(item.aliases))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    for item in items:
        if item.problem:
            print(f"\n{item.name}: {item.problem}")


def _pull(name: str, settings: Settings) -> int:
    try:
        spec = catalog.resolve(name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    started = time.monotonic()
    document, _ = load_document(settings.models_path, settings.overlay_dirs)
    try:
        path = store.pull(spec, settings.cache_dir, store.entry_for(spec, document))
        # The fragment must leave the registry valid (aliases not taken twice, say).
        load_registry(settings.models_path, settings.overlay_dirs)
    except (ModelSourceError, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ok  {spec.name}: pulled from {spec.repo} into {path} in {time.monotonic() - started:.1f} s")
    return 0


def _bundle(out: Path, names: list[str], registry: Registry, settings: Settings) -> int:
    document, _ = load_document(settings.models_path, settings.overlay_dirs)
    # What is present: `materialize` below checks each sha256, once, and the manifest reuses them.
    found = installed(registry, settings.cache_dir)
    chosen = names or [*sorted(found.models), *sorted(found.voices)]
    packed = []
    for name in chosen:
        entry = registry.resolve(name)
        table, key = ("models", entry.slug) if entry is not None else ("voices", name)
        if entry is not None and entry.source is None:
            continue  # a synthesis model: its weights are the voices'
        source = entry.source if entry is not None else getattr(registry.voices.get(name), "source", None)
        if source is None:
            print(f"error: {name!r} is neither a model nor a voice in the registry", file=sys.stderr)
            return 1
        try:
            folder = materialize(source, key, settings.cache_dir)
        except ModelSourceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        folder, files = (folder.parent, (folder.name,)) if folder.is_file() else (folder, _files(folder))
        raw = {k: v for k, v in document[table][key].items() if k != "source"}
        packed.append(Packed(table=table, name=key, entry=raw, folder=folder, files=files, sha256=source.sha256))
    started = time.monotonic()
    manifest = bundle.write(out, packed)
    total = sum(f["size"] for e in manifest["entries"] for f in e["files"])
    print(f"ok  {out}: {len(packed)} entries, {total / 1e6:.0f} MB in {time.monotonic() - started:.1f} s")
    for entry in manifest["entries"]:
        print(f"    {entry['name']} ({len(entry['files'])} files)")
    return 0


def _files(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))


def _import(path: Path, settings: Settings) -> int:
    started = time.monotonic()
    try:
        entries = bundle.read(path, settings.cache_dir)
        load_registry(settings.models_path, settings.overlay_dirs)
    except (BundleError, RegistryError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for entry in entries:
        print(f"ok  {entry['name']}: {len(entry['files'])} files checked and installed")
    print(f"ok  {path}: imported in {time.monotonic() - started:.1f} s into {settings.cache_dir}")
    return 0


def _remove(name: str, registry: Registry, settings: Settings) -> int:
    entry = registry.resolve(name)
    key = entry.slug if entry is not None else name
    if store.remove(settings.cache_dir, key):
        print(f"ok  {key}: removed")
        return 0
    why = (
        "is part of this installation (models.toml), not pulled or imported"
        if entry or name in registry.voices
        else "is not installed"
    )
    print(f"error: {name!r} {why}", file=sys.stderr)
    return 1


def _map(name: str, voice: str, speaker: int | None, registry: Registry, settings: Settings) -> int:
    if voice not in registry.voices:
        print(f"error: {voice!r} is not a voice here; `models pull {voice}` first", file=sys.stderr)
        return 1
    fragment = settings.cache_dir / store.FRAGMENTS / VOICE_MAP_FRAGMENT
    document, _ = load_document(fragment) if fragment.exists() else ({}, {})
    body: dict[str, Any] = {"voice": voice} | ({"speaker_id": speaker} if speaker is not None else {})
    document.setdefault("voice_map", {})[name] = body
    fragment.parent.mkdir(parents=True, exist_ok=True)
    fragment.write_text(tomli_w.dumps(document), encoding="utf-8")
    try:
        load_registry(settings.models_path, settings.overlay_dirs)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ok  {name} -> {voice}" + (f" speaker {speaker}" if speaker is not None else ""))
    return 0
