"""models.toml parsing: the shipped file, aliases, voices, and errors that name the key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import OPENAI_VOICES, write_registry

from engines.models.inventory import Installed, inventory
from engines.models.registry import RegistryError, parse_registry
from engines.models.registry_files import load_registry
from server.config import PROJECT_ROOT
from server.core.served import Served


def test_shipped_registry() -> None:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    whisper = registry.resolve("whisper-1")
    assert whisper is not None and whisper.slug == "openai/whisper-1" and whisper.task == "transcription"
    assert registry.resolve("tiny.en") is registry.models["local/whisper-tiny.en"]
    for slug in ("openai/tts-1", "openai/tts-1-hd", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"):
        entry = registry.resolve(slug)
        assert entry is not None and entry.task == "synthesis", slug
    for slug in ("gpt-4o-transcribe", "gpt-4o-mini-transcribe"):
        assert registry.resolve(slug) is whisper
    assert set(registry.voice_map) >= set(OPENAI_VOICES)
    served = Served(registry, Installed(models=frozenset(registry.models), voices=frozenset(registry.voices)))
    assert served.voice("en_US-joe-medium") is not None
    assert served.voice("dracula") is None
    assert registry.resolve("nothing") is None


def _minimal() -> dict:
    return {
        "models": {
            "a/stt": {"task": "transcription", "source": {"path": "model-dir"}, "aliases": ["stt"]},
            "a/tts": {"task": "synthesis"},
        },
        "voices": {"v1": {"source": {"path": "v1.onnx"}}},
        "voice_map": {"alloy": {"voice": "v1", "length_scale": 1.1}},
    }


def test_batching_is_set_per_model(tmp_path: Path) -> None:
    raw = _minimal()
    raw["models"]["a/stt"].update(batch_size=8, batch_wait_ms=20, num_workers=3, cpu_threads=2, long_audio="sequential")
    decoding = parse_registry(raw, base_dir=tmp_path).models["a/stt"].decoding
    assert (decoding.batch_size, decoding.batch_wait_ms, decoding.num_workers, decoding.cpu_threads) == (8, 20, 3, 2)
    assert decoding.long_audio == "sequential"
    shipped = load_registry(PROJECT_ROOT / "models.toml").models
    assert shipped["openai/whisper-1"].decoding.long_audio == "batched"
    assert shipped["local/whisper-tiny.en"].decoding.long_audio == "sequential"


def test_each_model_and_voice_names_its_engine(tmp_path: Path) -> None:
    raw = _minimal()
    raw["voices"]["v2"] = {"engine": "kokoro", "source": {"path": "v2.onnx"}}
    raw["models"]["b/stt"] = {"task": "transcription", "engine": "parakeet", "source": {"path": "p"}}
    registry = parse_registry(raw, base_dir=tmp_path)
    # Unnamed, a transcription model is Whisper's and a voice Piper's, as every entry was before the key.
    assert (registry.models["a/stt"].engine, registry.models["b/stt"].engine) == ("whisper", "parakeet")
    assert (registry.voices["v1"].engine, registry.voices["v2"].engine) == ("piper", "kokoro")
    shipped = load_registry(PROJECT_ROOT / "models.toml")
    assert {v.engine for v in shipped.voices.values()} == {"piper", "kokoro"}


def test_paths_resolve_against_the_file(tmp_path: Path) -> None:
    registry = parse_registry(_minimal(), base_dir=tmp_path)
    source = registry.models["a/stt"].source
    assert source is not None and source.path == tmp_path / "model-dir"


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda raw: raw["models"]["a/stt"].update(task="vision"), "models.a/stt.task"),
        (lambda raw: raw["models"]["a/stt"].update(device="tpu"), "models.a/stt.device"),
        (lambda raw: raw["models"]["a/stt"].update(concurency=2), "models.a/stt.concurency"),
        (lambda raw: raw["models"]["a/stt"].update(max_queue="many"), "models.a/stt.max_queue"),
        (lambda raw: raw["models"]["a/stt"].update(preload=1), "models.a/stt.preload"),
        (lambda raw: raw["models"]["a/stt"].pop("source"), "models.a/stt.source"),
        (lambda raw: raw["models"]["a/stt"]["source"].update(hub="x/y"), "models.a/stt.source"),
        (lambda raw: raw["models"]["a/tts"].update(aliases=["stt"]), "models.a/tts.aliases"),
        (lambda raw: raw["voice_map"]["alloy"].update(voice="v2"), "voice_map.alloy.voice"),
        (lambda raw: raw["voice_map"]["alloy"].update(length_scale=-1), "voice_map.alloy.length_scale"),
        (
            lambda raw: raw["voices"]["v1"].update(source={"files": {"a.onnx": "pkg:a.onnx"}}),
            "voices.v1.source.sha256.a.onnx",
        ),
        (
            lambda raw: raw["voices"]["v1"].update(source={"path": "x", "sha256": {"x": "abc"}}),
            "voices.v1.source.sha256.x",
        ),
        (lambda raw: raw.update(extra={}), "extra"),
        (lambda raw: raw["models"]["a/stt"].update(batch_size=-1), "models.a/stt"),
        (lambda raw: raw["models"]["a/stt"].update(batch_wait_ms="soon"), "models.a/stt.batch_wait_ms"),
        (lambda raw: raw["models"]["a/stt"].update(long_audio="fast"), "models.a/stt.long_audio"),
        (lambda raw: raw["models"]["a/stt"].update(engine="../whisper"), "models.a/stt.engine"),
        (lambda raw: raw["models"]["a/tts"].update(engine="piper"), "models.a/tts.engine"),
        (lambda raw: raw["voices"]["v1"].update(engine=3), "voices.v1.engine"),
    ],
)
def test_mistakes_name_the_key(mutate, key: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    raw = _minimal()
    mutate(raw)
    with pytest.raises(RegistryError) as caught:
        parse_registry(raw, base_dir=tmp_path)
    assert str(caught.value).startswith(key), str(caught.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text("[models\n")
    with pytest.raises(RegistryError, match=r"models\.toml: not valid TOML"):
        load_registry(path)


def test_server_refuses_to_start_on_a_bad_registry(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "models.toml"
    path.write_text('[models."x"]\ntask = "transcription"\nsource.path = "d"\nbeam_size = 0\n')
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--port", "1"],
        env={"AUDIO_MODELS": str(path), "PATH": "/usr/bin:/bin"},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "models.x.beam_size" in result.stderr


def test_a_listed_piper_voice_shows_its_language_and_speakers_from_its_own_config(tmp_path: Path) -> None:
    folder = tmp_path / "libritts"
    folder.mkdir()
    (folder / "voice.onnx").write_bytes(b"not a real model")
    (folder / "voice.onnx.json").write_text(json.dumps({"language": {"code": "en_US"}, "num_speakers": 904}))
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}

    def add_voice(document: dict[str, object]) -> None:
        voices = document["voices"]
        assert isinstance(voices, dict)
        voices["en_US-libritts_r-medium"] = {"source": {"path": str(folder), "sha256": digests}}

    registry = load_registry(write_registry(tmp_path, add_voice))
    listed = {item.name: item for item in inventory(registry, tmp_path / "cache")}
    assert listed["en_US-libritts_r-medium"].languages == "en_US, 904 speakers"
    assert listed["en_US-joe-medium"].languages == "en-us, male"  # the entry's own language, where it has one
