"""The cache's own models: pulled from a hub or imported from a bundle. Each is a folder of real files
under `CACHE/models/` and a registry fragment under `CACHE/models.d/` that makes it servable."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from engines.models.catalog import PullSpec
from engines.models.sources import ModelSourceError, failed_pull, safe_name, sha256_of

MODELS = "models"
FRAGMENTS = "models.d"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def folder_of(cache_dir: Path, name: str) -> Path:
    return cache_dir / MODELS / safe_name(name)


def fragment_of(cache_dir: Path, name: str) -> Path:
    return cache_dir / FRAGMENTS / f"{safe_name(name)}.toml"


def install(cache_dir: Path, table: str, name: str, entry: Mapping[str, Any], staged: Path) -> Path:
    """Move the verified files in `staged` into the model's folder (replacing an older copy) and write
    the fragment that points the registry at them, with every file's sha256."""
    digests = {file.name: sha256_of(file) for file in sorted(staged.iterdir()) if file.is_file()}
    target = folder_of(cache_dir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        target.rename(old)
        shutil.rmtree(old)
    staged.rename(target)
    source = {"path": f"../{MODELS}/{target.name}", "sha256": digests}
    body = {**{k: v for k, v in entry.items() if k != "source"}, "source": source}
    _write_atomically(fragment_of(cache_dir, name), tomli_w.dumps({table: {name: body}}))
    return target


def remove(cache_dir: Path, name: str) -> bool:
    """Delete a pulled or imported model; False when the cache holds none by that name."""
    fragment, folder = fragment_of(cache_dir, name), folder_of(cache_dir, name)
    found = fragment.exists() or folder.exists()
    fragment.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    return found


Progress = Callable[[str, int, int | None], None]
"""Told (file, bytes so far, bytes in all) as a pull goes."""


def pull(spec: PullSpec, cache_dir: Path, entry: Mapping[str, Any], progress: Progress | None = None) -> Path:
    """Fetch `spec` from the hub (or the mirror in HF_ENDPOINT), check every file against the hash the
    hub gives for it, and install it. Partial files are kept in a staging folder, so pulling again
    after an interruption resumes where it stopped."""
    try:
        return _pull(spec, cache_dir, entry, progress)
    except ModelSourceError:
        raise
    except Exception as exc:
        # The hub library's failures (no network, 404, a mirror that is down) become one message.
        raise ModelSourceError(failed_pull(spec.name, spec.repo, exc)) from exc


def _pull(spec: PullSpec, cache_dir: Path, entry: Mapping[str, Any], progress: Progress | None) -> Path:
    from huggingface_hub import HfApi

    staging = cache_dir / MODELS / f".pull-{safe_name(spec.name)}"
    revision = None
    files = list(spec.files)
    if not files:
        info = HfApi().model_info(spec.repo)
        revision = info.sha
        files = spec.wanted([s.rfilename for s in info.siblings or []])
        missing = {"model.bin", "tokenizer.json"} - {Path(f).name for f in files}
        if missing:
            raise ModelSourceError(
                f"{spec.repo} is not a CTranslate2 Whisper model this server can use offline: "
                f"it has no {', '.join(sorted(missing))}"
            )
    (cache_dir / MODELS).mkdir(parents=True, exist_ok=True)
    ready = Path(tempfile.mkdtemp(dir=cache_dir / MODELS, prefix=f".ready-{safe_name(spec.name)}-"))
    try:
        for file in files:
            fetched = _download(spec.repo, file, revision, staging, progress)
            shutil.move(fetched, ready / Path(file).name)
        path = install(cache_dir, "models" if spec.kind == "model" else "voices", spec.name, entry, ready)
    except BaseException:
        shutil.rmtree(ready, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return path


def _download(repo: str, file: str, revision: str | None, staging: Path, progress: Progress | None) -> Path:
    """One file, into `staging/FILE.part` first: what a stopped pull left there is kept, and the next
    pull asks only for the rest. The hub's hash for the file is checked before it is handed back."""
    import httpx
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    # huggingface_hub.utils exports these through an `__all__` it computes, which mypy cannot read.
    from huggingface_hub.utils import are_progress_bars_disabled, build_hf_headers, tqdm  # type: ignore[attr-defined]

    metadata = get_hf_file_metadata(hf_hub_url(repo, file, revision=revision))
    part = staging / f"{file}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(4):
        have = part.stat().st_size if part.exists() else 0
        if metadata.size is not None and have >= metadata.size:
            break
        headers = {**build_hf_headers(), **({"Range": f"bytes={have}-"} if have else {})}
        try:
            with httpx.stream("GET", metadata.location, headers=headers, follow_redirects=True, timeout=60) as reply:
                if reply.status_code not in (200, 206):
                    raise ModelSourceError(f"{repo}/{file}: the hub answered HTTP {reply.status_code}")
                # A 200 to a ranged request is the whole file again: start over.
                resumed = have if reply.status_code == 206 else 0
                # huggingface_hub's tqdm subclass takes an unannotated *args, **kwargs.
                bar = tqdm(  # type: ignore[no-untyped-call]
                    total=metadata.size,
                    initial=resumed,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=Path(file).name,
                    disable=are_progress_bars_disabled(),
                )
                with bar, open(part, "ab" if resumed else "wb") as out:
                    done = resumed
                    for chunk in reply.iter_bytes(1 << 20):
                        out.write(chunk)
                        bar.update(len(chunk))
                        done += len(chunk)
                        if progress is not None:
                            progress(file, done, metadata.size)
        except httpx.TransportError:
            if attempt == 3:
                raise
    if metadata.size is not None and part.stat().st_size != metadata.size:
        raise ModelSourceError(
            f"{repo}/{file}: got {part.stat().st_size} bytes of {metadata.size}; pull again to resume"
        )
    _check_against_hub(part, metadata.etag, file, repo)
    return part


def _check_against_hub(path: Path, etag: str | None, file: str, repo: str) -> None:
    """The hub's ETag is the sha256 of a large (LFS) file, or the git blob id of a small one."""
    tag = (etag or "").strip('"').lower()
    if _HEX64.match(tag):
        actual = sha256_of(path)
    elif _HEX40.match(tag):
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        actual = digest.hexdigest()
    else:
        raise ModelSourceError(f"{repo}/{file}: the hub gave no hash to check it against (ETag {etag!r})")
    if actual != tag:
        path.unlink(missing_ok=True)
        raise ModelSourceError(
            f"{repo}/{file}: the downloaded file does not match the hub's hash ({actual} != {tag}); "
            "it was deleted, pull again"
        )


def entry_for(spec: PullSpec, document: dict[str, Any]) -> dict[str, Any]:
    """The registry entry a pull writes: the one models.toml already has for it (with a new source),
    or a new one whose aliases are only those still free."""
    table = "models" if spec.kind == "model" else "voices"
    known = document.get(table, {}).get(spec.name)
    if known is not None:
        return {k: v for k, v in known.items() if k != "source"}
    if spec.kind == "voice":
        return dict(spec.entry)
    models = document.get("models", {})
    taken = set(models) | {
        a for body in models.values() for a in (*body.get("aliases", []), *body.get("diarizing_aliases", []))
    }
    aliases = [a for a in (spec.repo, *spec.aliases) if a not in taken and a != spec.name]
    return {"task": "transcription", "description": spec.description, "aliases": aliases}


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
