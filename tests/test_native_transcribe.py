"""POST /v1/inference/audio/transcribe against a real server on the embedded Whisper models."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from audio_tools import convert, read_audio
from conftest import CLIPS, SPEECH_CLIPS, clip_path
from faster_whisper import BatchedInferencePipeline, WhisperModel
from wer import normalise, wer

from engines.audio.decode import decode
from engines.base import Placement
from engines.models.registry_files import load_registry
from engines.models.sources import materialize
from engines.whisper.policy import batching_for
from server.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.models

URL = "/v1/inference/audio/transcribe"

# How much worse than faster-whisper in-process the server may be on a clip (normalised WER):
# the server adds VAD, windows and its own decoding, none of which may cost accuracy.
MARGIN = 0.05


@pytest.fixture(scope="module")
def in_process() -> Iterator[WhisperModel]:
    """faster-whisper itself on the same Whisper base files and this same CPU, as the yardstick."""
    registry = load_registry(PROJECT_ROOT / "models.toml")
    entry = registry.models["openai/whisper-1"]
    assert entry.source is not None
    path = materialize(entry.source, entry.slug, Settings.from_env().cache_dir)
    # The server's threads too: CTranslate2's int8 kernels may round differently with other counts.
    batching, threads = batching_for(entry, Placement("cpu", "int8"), os.cpu_count() or 1)
    yield WhisperModel(
        str(path),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
        num_workers=batching.workers,
        local_files_only=True,
    )


def in_process_text(model: WhisperModel, name: str, **options: object) -> str:
    segments, _ = model.transcribe(decode(clip_path(name)), beam_size=5, **options)  # type: ignore[arg-type]
    return "".join(s.text for s in segments).strip()


def transcribe(client: httpx.Client, path: Path, **fields: str | list[str]) -> httpx.Response:
    data = {"model": "openai/whisper-1", **fields}
    with open(path, "rb") as f:
        return client.post(URL, data=data, files={"file": (path.name, f)})


@pytest.mark.parametrize("name", SPEECH_CLIPS)
def test_speech_clips_match_in_process_whisper(client: httpx.Client, in_process: WhisperModel, name: str) -> None:
    response = transcribe(client, clip_path(name))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    data = body["data"]
    assert set(data) == {"text", "duration", "language"}
    assert data["language"] == CLIPS[name]["language"]
    assert data["duration"] == pytest.approx(CLIPS[name]["duration_s"], abs=0.15)
    reference = CLIPS[name]["reference_text"]
    yardstick = wer(reference, in_process_text(in_process, name))
    assert wer(reference, data["text"]) <= yardstick + MARGIN, (data["text"], yardstick)
    assert wer(reference, data["text"]) <= 0.6  # a sanity bound, loose for other CPUs' kernels


def test_the_long_clip_matches_faster_whisper_in_process(client: httpx.Client, in_process: WhisperModel) -> None:
    german = "librivox_de_simplicissimus_title.mp3"
    audio, reference = decode(clip_path(german)), CLIPS[german]["reference_text"]
    served = transcribe(client, clip_path(german)).json()["data"]["text"]
    batched, _ = BatchedInferencePipeline(in_process).transcribe(audio, beam_size=5, batch_size=8)
    assert normalise(served) == normalise("".join(s.text for s in batched))
    # Asked for Whisper's sequential loop, the server gives exactly what faster-whisper gives.
    sequential = transcribe(client, clip_path(german), condition_on_previous_text="true").json()["data"]["text"]
    assert sequential == in_process_text(in_process, german)
    # And the default is near that loop: within four words, as in-process (tests/test_batching.py says why).
    assert wer(reference, served) <= wer(reference, sequential) + 0.04


def test_json_format_is_the_same_envelope(client: httpx.Client) -> None:
    body = transcribe(client, clip_path("jfk_ask_not.flac"), response_format="json").json()
    assert body["status"] == "ok"
    assert set(body["data"]) == {"text", "duration", "language"}
    assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], body["data"]["text"]) <= 0.1


def test_verbose_json_has_segments(client: httpx.Client) -> None:
    body = transcribe(client, clip_path("jfk_ask_not.flac"), response_format="verbose_json").json()
    data = body["data"]
    assert data["language"] == "en" and data["duration"] == pytest.approx(11.0, abs=0.05)
    assert data["segments"], data
    for key in ("id", "start", "end", "text", "avg_logprob", "no_speech_prob", "compression_ratio", "temperature"):
        assert key in data["segments"][0]
    assert "words" not in data
    assert data["segments"][-1]["end"] <= 11.05


@pytest.mark.parametrize("field", ["timestamp_granularities", "timestamp_granularities[]"])
def test_word_timestamps_in_either_field_form(client: httpx.Client, field: str) -> None:
    fields: dict[str, str | list[str]] = {"response_format": "verbose_json", field: ["segment", "word"]}
    data = transcribe(client, clip_path("jfk_ask_not.flac"), **fields).json()["data"]
    words = data["words"]
    # The words are the transcript's own, in order (their punctuation is Whisper's, and CPU-dependent).
    assert normalise(" ".join(w["word"] for w in words)) == normalise(data["text"])
    assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], data["text"]) <= 0.2
    assert all(w["start"] <= w["end"] for w in words)
    assert all(a["start"] <= b["start"] for a, b in itertools.pairwise(words))
    assert data["segments"]


SRT_CUE = re.compile(r"(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n((?:.+\n?)+)")


def _seconds(stamp: str) -> float:
    h, m, rest = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest)


def test_srt_cues_are_sized_for_reading(client: httpx.Client) -> None:
    response = transcribe(client, clip_path("librivox_de_simplicissimus_title.mp3"), response_format="srt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-subrip")
    cues = SRT_CUE.findall(response.text)
    assert len(cues) >= 12, response.text
    assert [int(c[0]) for c in cues] == list(range(1, len(cues) + 1))
    for _, start, end, text in cues:
        lines = text.strip().split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), text
        assert 0 <= _seconds(end) - _seconds(start) <= 6.5
    assert _seconds(cues[-1][2]) <= 68.1


def test_vtt(client: httpx.Client) -> None:
    response = transcribe(client, clip_path("jfk_ask_not.flac"), response_format="vtt")
    assert response.headers["content-type"].startswith("text/vtt")
    assert response.text.startswith("WEBVTT\n\n")
    stamps = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})", response.text)
    assert len(stamps) >= 2
    spoken = " ".join(line for line in response.text.splitlines()[1:] if "-->" not in line)
    assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], spoken) <= 0.1


CONVERSIONS = {
    # name: (container, codec, sample rate, layout)
    "recording.m4a": ("mp4", "aac", 44100, "stereo"),
    "recording.mp4": ("mp4", "aac", 16000, "mono"),
    "recording.opus": ("ogg", "libopus", 48000, "mono"),
    "recording.webm": ("webm", "libopus", 48000, "stereo"),
    "recording.aac": ("adts", "aac", 24000, "mono"),
    "recording.mpga": ("mp3", "libmp3lame", 32000, "mono"),
    "recording.mpeg": ("mp3", "libmp3lame", 22050, "stereo"),
    "recording.wav": ("wav", "pcm_s16le", 8000, "stereo"),
    "recording.flac": ("flac", "flac", 96000, "mono"),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("converted")
    source = clip_path("jfk_ask_not.flac")
    paths = {name: convert(source, folder / name, *spec) for name, spec in CONVERSIONS.items()}
    # PyAV has no Vorbis encoder; libsndfile writes Ogg Vorbis.
    decoded = read_audio(source)
    sf.write(folder / "recording.ogg", decoded.samples, decoded.sample_rate, format="OGG", subtype="VORBIS")
    paths["recording.ogg"] = folder / "recording.ogg"
    return paths


@pytest.mark.parametrize("name", [*CONVERSIONS, "recording.ogg"])
def test_input_formats(client: httpx.Client, converted: dict[str, Path], name: str) -> None:
    response = transcribe(client, converted[name], model="tiny.en")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["duration"] == pytest.approx(11.0, abs=0.15)
    assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], data["text"]) <= 0.05


def test_language_is_detected_and_reported(client: httpx.Client) -> None:
    data = transcribe(client, clip_path("picovoice_fr.wav")).json()["data"]
    assert data["language"] == "fr"


def test_given_language_is_used(client: httpx.Client, in_process: WhisperModel) -> None:
    data = transcribe(client, clip_path("picovoice_fr.wav"), language="fr").json()["data"]
    assert data["language"] == "fr"
    reference = CLIPS["picovoice_fr.wav"]["reference_text"]
    yardstick = wer(reference, in_process_text(in_process, "picovoice_fr.wav", language="fr"))
    assert wer(reference, data["text"]) <= yardstick + MARGIN


def test_english_only_model_refuses_other_languages(client: httpx.Client) -> None:
    response = transcribe(client, clip_path("picovoice_fr.wav"), model="tiny.en", language="fr")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_language"
    assert response.json()["error"]["param"] == "language"


def test_prompt_and_temperature_are_accepted(client: httpx.Client) -> None:
    response = transcribe(
        client, clip_path("pocketsphinx_cards_002.wav"), prompt="Playing cards: four queen of clubs.", temperature="0.2"
    )
    assert response.status_code == 200
    assert "clubs" in response.json()["data"]["text"].lower()
