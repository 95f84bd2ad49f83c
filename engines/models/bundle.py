"""Bundles: models carried into a machine with no network, as one tar of real files and a manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from engines.models import store
from engines.models.sources import safe_name, sha256_of

MANIFEST = "manifest.json"
FORMAT = 2
"""2: files with the same content are stored once, listed under each entry with the same `path` (the
voices of one Kokoro voice pack share their model); a bundle of format 1 is read as before."""
READABLE = (1, 2)


class BundleError(ValueError):
    """A bundle is damaged, tampered with or not a bundle; the message names the file."""


@dataclass(frozen=True)
class Packed:
    """One registry entry to put in a bundle: its table, name, entry (without source) and files."""

    table: str
    name: str
    entry: Mapping[str, Any]
    folder: Path
    files: tuple[str, ...]
    sha256: Mapping[str, str] = field(default_factory=dict)
    """Digests already checked (the registry's pins, verified when the files were materialized);
    files without one are hashed while the manifest is written."""


def write(out: Path, packed: Iterable[Packed]) -> dict[str, Any]:
    """Write the bundle: the manifest first (names, sizes, sha256, registry entries), then every file,
    symlinks resolved, so that the archive alone carries the models."""
    items = list(packed)
    entries: list[dict[str, Any]] = []
    stored: dict[str, str] = {}  # sha256 -> the path in the archive of the one copy of that content
    for item in items:
        files = []
        for name in item.files:
            real = (item.folder / name).resolve()
            digest = item.sha256.get(name) or sha256_of(real)
            path = stored.setdefault(digest, f"files/{safe_name(item.name)}/{name}")
            files.append({"name": name, "path": path, "size": real.stat().st_size, "sha256": digest})
        entries.append({"table": item.table, "name": item.name, "entry": dict(item.entry), "files": files})
    manifest = {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "entries": entries}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
        added: set[str] = set()
        for entry, item in zip(entries, items, strict=True):
            for file in entry["files"]:
                if file["path"] not in added:
                    tar.add(str((item.folder / file["name"]).resolve()), arcname=file["path"], recursive=False)
                    added.add(file["path"])
    partial.replace(out)
    return manifest


def read(bundle: Path, cache_dir: Path) -> list[dict[str, Any]]:
    """Check every file of the bundle against its manifest, and only then install them all. A missing,
    changed or truncated file refuses the whole bundle, naming the file; nothing is installed then."""
    staging = Path(tempfile.mkdtemp(dir=_ready(cache_dir), prefix=".import-"))
    try:
        manifest = _verify_into(bundle, staging)
        for entry in manifest["entries"]:
            store.install(cache_dir, entry["table"], entry["name"], entry["entry"], staging / safe_name(entry["name"]))
        return list(manifest["entries"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ready(cache_dir: Path) -> Path:
    folder = cache_dir / store.MODELS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _verify_into(bundle: Path, staging: Path) -> dict[str, Any]:
    try:
        with tarfile.open(bundle, "r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BundleError(f"{bundle}: not a model bundle (it does not start with {MANIFEST})")
            manifest = _manifest(tar, first, bundle)
            expected: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
            for entry in manifest["entries"]:
                for listed in entry["files"]:
                    expected.setdefault(listed["path"], []).append((entry, listed))
            seen: set[str] = set()
            for member in tar:
                if member.offset == first.offset:
                    continue  # the manifest, read above
                if member.name not in expected or not member.isfile():
                    raise BundleError(f"{bundle}: {member.name}: not listed in the manifest")
                (entry, file), *sharing = expected[member.name]
                target = staging / safe_name(entry["name"]) / PurePosixPath(file["name"]).name
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_checked(tar, member, target, file, bundle)
                for other, listed in sharing:
                    if (listed["sha256"], listed["size"]) != (file["sha256"], file["size"]):
                        raise BundleError(f"{bundle}: {member.name}: listed twice with different contents")
                    copy = staging / safe_name(other["name"]) / PurePosixPath(listed["name"]).name
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(target, copy)
                seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(
            f"{bundle}: cannot be read as a bundle ({type(exc).__name__}: {exc}); is it truncated?"
        ) from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise BundleError(f"{bundle}: {missing[0]}: missing from the archive (is it truncated?)")
    return manifest


def _manifest(tar: tarfile.TarFile, member: tarfile.TarInfo, bundle: Path) -> dict[str, Any]:
    stream = tar.extractfile(member)
    unreadable = BundleError(f"{bundle}: {MANIFEST} is not a manifest this server can read")
    try:
        manifest = json.loads(stream.read() if stream else b"")
        entries = manifest["entries"]
        if manifest["format"] not in READABLE or not isinstance(entries, list):
            raise unreadable
        for entry in entries:
            if entry["table"] not in ("models", "voices") or not isinstance(entry["entry"], dict):
                raise unreadable
            for file in entry["files"]:
                name = file["name"]
                # A plain file name: a manifest must not place files outside the model's folder.
                if PurePosixPath(name).name != name or name in ("", ".", ".."):
                    raise unreadable
                if not isinstance(file["size"], int) or len(file["sha256"]) != 64:
                    raise unreadable
    except (ValueError, KeyError, TypeError) as exc:
        raise unreadable from exc
    return dict(manifest)


def _link_or_copy(source: Path, target: Path) -> None:
    """One content for two entries: a hard link where the file system has them, so that it takes its room once."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _copy_checked(
    tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, file: dict[str, Any], bundle: Path
) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise BundleError(f"{bundle}: {member.name}: not a file")
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != file["size"] or digest.hexdigest() != file["sha256"]:
        raise BundleError(
            f"{bundle}: {member.name}: does not match the manifest (sha256 {digest.hexdigest()}, "
            f"{size} bytes; expected {file['sha256']}, {file['size']} bytes); nothing was installed"
        )
