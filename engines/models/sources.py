"""Turn a registry `Source` into verified files on local disk."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from engines.models.registry import Source

JOINED = ".joined"
"""Under `cache_dir/assembled`: files joined from pieces, named by their sha256."""


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
    target_dir = cache_dir / "assembled" / safe_name(name)
    target_dir.mkdir(parents=True, exist_ok=True)
    for target, pieces in source.files.items():
        _assemble(target_dir / target, [_package_file(p, name) for p in pieces], source.sha256[target], name)
    return target_dir


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
    # Joined once per content, and linked into each model's folder: voices that share a model (the
    # Kokoro voices of one voice pack) share one copy of it on disk.
    whole = target.parent.parent / JOINED / expected
    if whole.is_file():
        try:
            _check(whole, expected, name)
        except ModelSourceError:
            whole.unlink()
    if not whole.is_file():
        whole.parent.mkdir(parents=True, exist_ok=True)
        _join(whole, pieces, expected, name, target.name)
    target.unlink(missing_ok=True)
    target.symlink_to(whole)


def _join(whole: Path, pieces: list[Path], expected: str, name: str, file_name: str) -> None:
    # Concatenate into a temporary file and rename, so that a crash never leaves
    # a half-written model that a later start would mistake for a whole one.
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=whole.parent, prefix=f".{whole.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != expected:
            raise ModelSourceError(
                f"{name}: {file_name} assembled from {len(pieces)} pieces has sha256 {digest.hexdigest()}, "
                f"expected {expected}; refusing a changed upload"
            )
        os.replace(tmp, whole)
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


def is_installed(source: Source, name: str, cache_dir: Path) -> bool:
    """Whether the model's files are all on this machine: a cheap look, not the sha256 check that
    `materialize` makes before a model is loaded."""
    try:
        if source.path is not None:
            folder = source.path if source.path.is_dir() else source.path.parent
            return source.path.exists() and all((folder / file).is_file() for file in source.sha256)
        if source.hub is not None:
            # The hub library's cache layout (models--ORG--NAME/snapshots/REV), looked at without
            # importing the library: this runs for every hub entry at every start.
            folder = cache_dir / "hub" / f"models--{source.hub.replace('/', '--')}" / "snapshots"
            snapshots = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
            return any(all((p / f).exists() for f in source.hub_files) for p in snapshots)
        for pieces in source.files.values():
            for piece in pieces:
                _package_file(piece, name)
        return True
    except ModelSourceError:
        return False


def _from_hub(source: Source, name: str, cache_dir: Path, allow_download: bool) -> Path:
    path = _snapshot(source, name, cache_dir, allow_download)
    if source.hub_files:
        # A Piper voice sits deep inside its repository; hand back the folder that holds it.
        first = path / source.hub_files[0]
        _verify_all(source, first.parent, name)
        return first.parent
    _verify_all(source, path, name)
    return path


def _snapshot(source: Source, name: str, cache_dir: Path, allow_download: bool) -> Path:
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
            raise ModelSourceError(failed_pull(name, source.hub or name, exc)) from exc
        raise ModelSourceError(
            f"{name}: not downloaded yet; on a machine with internet run `python -m server models pull {name}`"
        ) from exc
    except Exception as exc:
        raise ModelSourceError(f"{name}: could not fetch {source.hub}: {exc}") from exc
    return path


def failed_pull(name: str, repo: str, exc: BaseException) -> str:
    """Why fetching `repo` failed, in words: above all, whether the network could be reached at all."""
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    cause = exc.__cause__ or exc.__context__ if isinstance(exc, LocalEntryNotFoundError) else exc
    if constants.HF_HUB_OFFLINE:
        why = "HF_HUB_OFFLINE is set, so the hub library would not try the network"
    elif cause is None or any(w in type(cause).__name__ for w in ("Connect", "Timeout", "Network", "Resolution")):
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        why = f"the network is unreachable from here: {constants.ENDPOINT} could not be reached{detail}"
    else:
        return f"{name}: could not pull {repo} from {constants.ENDPOINT}: {type(exc).__name__}: {exc}"
    return (
        f"{name}: could not download {repo}: {why}. For an air-gapped machine, pull it where there "
        "is internet and carry it over: `python -m server models bundle OUT.tar NAME` there, then "
        "`python -m server models import OUT.tar` here; or set HF_ENDPOINT to a hub mirror this machine can reach"
    )


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
