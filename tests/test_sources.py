"""Packaged model files: assembly of split files, sha256 pinning, clear errors."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines.models.registry import Source
from engines.models.sources import ModelSourceError, materialize


@pytest.fixture()
def fake_package(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "site"
    package = root / "fake_model_pkg"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "part1").write_bytes(b"A" * 1000)
    (package / "data" / "part2").write_bytes(b"B" * 500)
    (package / "data" / "config.json").write_text("{}")
    sys.path.insert(0, str(root))
    yield package
    sys.path.remove(str(root))
    sys.modules.pop("fake_model_pkg", None)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source(model_sha: str) -> Source:
    return Source(
        files={
            "model.bin": ("fake_model_pkg:data/part1", "fake_model_pkg:data/part2"),
            "config.json": ("fake_model_pkg:data/config.json",),
        },
        sha256={"model.bin": model_sha, "config.json": _sha(b"{}")},
    )


def test_split_files_are_concatenated_in_order(fake_package: Path, tmp_path: Path) -> None:
    path = materialize(_source(_sha(b"A" * 1000 + b"B" * 500)), "fake", tmp_path / "cache")
    assert (path / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 500
    assert (path / "config.json").read_text() == "{}"
    # Idempotent: a second start finds the assembled file and re-checks it.
    assert materialize(_source(_sha(b"A" * 1000 + b"B" * 500)), "fake", tmp_path / "cache") == path


def test_changed_upload_is_refused(fake_package: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="refusing a changed upload"):
        materialize(_source(_sha(b"something else")), "fake", tmp_path / "cache")
    assert not (tmp_path / "cache" / "assembled" / "fake" / "model.bin").exists()


def test_tampered_single_file_is_refused(fake_package: Path, tmp_path: Path) -> None:
    good = _sha(b"A" * 1000 + b"B" * 500)
    materialize(_source(good), "fake", tmp_path / "cache")
    (fake_package / "data" / "config.json").write_text('{"evil": true}')
    with pytest.raises(ModelSourceError, match="refusing a changed file"):
        materialize(_source(good), "fake", tmp_path / "cache")


def test_missing_package_says_how_to_install(tmp_path: Path) -> None:
    source = Source(files={"m": ("no_such_pkg_xyz:m",)}, sha256={"m": "0" * 64})
    with pytest.raises(ModelSourceError, match="not installed"):
        materialize(source, "x", tmp_path)


def test_hub_model_not_downloaded_is_a_clear_error(tmp_path: Path) -> None:
    source = Source(hub="Systran/faster-whisper-small")
    with pytest.raises(ModelSourceError, match="python -m server models pull"):
        materialize(source, "whisper-small", tmp_path, allow_download=False)
