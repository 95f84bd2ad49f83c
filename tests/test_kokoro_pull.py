"""`models pull kokoro-NAME` through a hub stand-in laid out as the ONNX community's Kokoro repository, the
pulled voice speaking, and carried in a bundle like any other model. Nothing here reaches the internet."""

from __future__ import annotations

import json
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import write_registry
from hub import FakeHub, start
from test_models_cli import models

from engines.base import SpeechSettings
from engines.loader import ModelFiles
from engines.models.catalog import KOKORO_REPO, resolve
from engines.models.registry_files import load_registry
from engines.models.sources import materialize
from server.config import Settings

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def kokoro_hub() -> Iterator[FakeHub]:
    """The repository's files as `models pull` asks for them: the model (here the embedded Kokoro-82M,
    joined once), its tokenizer, and a voice's style file (the embedded jf_alpha's vectors, as af_bella)."""
    embedded = materialize(
        load_registry(Settings().models_path).voices["kokoro-jf_alpha"].source,
        "kokoro-jf_alpha",
        Settings.from_env().cache_dir,
    )
    vocab = json.loads((embedded / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with np.load(embedded / "voices_ja.npz") as pack:
        styles = np.asarray(pack["jf_alpha"], "<f4").tobytes()
    repo = {
        "onnx/model_quantized.onnx": (embedded / "model.onnx").read_bytes(),
        "tokenizer.json": json.dumps({"model": {"type": "WordLevel", "vocab": {"$": 0, **vocab}}}).encode(),
        "voices/af_bella.bin": styles,
        "README.md": b"# Kokoro-82M ONNX\n",
    }
    fake = FakeHub(repos={KOKORO_REPO: repo})
    server = start(fake)
    yield fake
    server.shutdown()
    server.server_close()


def test_kokoro_names_resolve_to_their_files_and_entry() -> None:
    spec = resolve("kokoro-bm_george")
    assert (spec.kind, spec.repo) == ("voice", KOKORO_REPO)
    assert spec.files == ("onnx/model_quantized.onnx", "tokenizer.json", "voices/bm_george.bin")
    assert spec.entry == {
        "engine": "kokoro",
        "style": "bm_george",
        "language": "en-gb",
        "gender": "male",
        "license": "Apache-2.0",
    }
    with pytest.raises(ValueError, match="no front end"):
        resolve("kokoro-zf_xiaobei")


def test_a_pulled_kokoro_voice_speaks_and_travels_in_a_bundle(kokoro_hub: FakeHub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    pulled = models("pull", "kokoro-af_bella", cache=cache, hub=kokoro_hub.url)
    assert pulled.returncode == 0, pulled.stderr
    fragment = tomllib.loads((cache / "models.d" / "kokoro-af_bella.toml").read_text(encoding="utf-8"))
    entry = fragment["voices"]["kokoro-af_bella"]
    assert (entry["engine"], entry["style"], entry["language"], entry["gender"]) == (
        "kokoro",
        "af_bella",
        "en-us",
        "female",
    )
    assert entry["license"] == "Apache-2.0"
    assert set(entry["source"]["sha256"]) == {"model_quantized.onnx", "tokenizer.json", "af_bella.bin"}

    listed = next(
        line for line in models("list", cache=cache).stdout.splitlines() if line.startswith("kokoro-af_bella")
    )
    assert " installed " in listed and "en-us, female" in listed and "Apache-2.0" in listed

    # It speaks: the ONNX community's layout (tokenizer.json, a voice's .bin) read by the same engine.
    registry = load_registry(tmp_path / "models.toml", (cache / "models.d",))
    voice = ModelFiles(cache).synthesizer(registry.voices["kokoro-af_bella"], use_cuda=False)
    assert voice.info.language == "en-us"
    audio = voice.render(voice.pieces("Good morning.")[0].units, SpeechSettings())
    assert 0.4 < len(audio) / voice.info.sample_rate < 3 and float(np.max(np.abs(audio))) > 0.1

    bundle = tmp_path / "bella.tar"
    assert models("bundle", str(bundle), "kokoro-af_bella", cache=cache).returncode == 0
    elsewhere = tmp_path / "elsewhere" / "cache"
    imported = models("import", str(bundle), cache=elsewhere)
    assert imported.returncode == 0, imported.stderr
    moved = tomllib.loads((elsewhere / "models.d" / "kokoro-af_bella.toml").read_text(encoding="utf-8"))
    assert moved["voices"]["kokoro-af_bella"]["style"] == "af_bella"
    assert (elsewhere / "models" / "kokoro-af_bella" / "af_bella.bin").read_bytes() == kokoro_hub.repos[KOKORO_REPO][
        "voices/af_bella.bin"
    ]


def test_voices_that_share_a_model_carry_it_once(tmp_path: Path) -> None:
    write_registry(tmp_path, lambda document: None)  # the shipped registry, for `models` below
    cache = tmp_path / "cache"
    bundle = tmp_path / "japanese.tar"
    made = models("bundle", str(bundle), "kokoro-jf_alpha", "kokoro-jm_kumo", cache=cache)
    assert made.returncode == 0, made.stderr
    with tarfile.open(bundle) as tar:
        stored = [m.name for m in tar.getmembers() if m.name.endswith("model.onnx")]
    assert stored == ["files/kokoro-jf_alpha/model.onnx"]
    elsewhere = tmp_path / "elsewhere" / "cache"
    assert models("import", str(bundle), cache=elsewhere).returncode == 0
    alpha, kumo = (elsewhere / "models" / name / "model.onnx" for name in ("kokoro-jf_alpha", "kokoro-jm_kumo"))
    assert alpha.stat().st_size == kumo.stat().st_size > 90_000_000 and alpha.stat().st_ino == kumo.stat().st_ino
