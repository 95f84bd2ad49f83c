"""A new synthesis engine is one factory entry: a tone engine named in models.toml is served by both HTTP
surfaces and by Wyoming, with nothing under server/ knowing of it."""

from __future__ import annotations

import ast
import asyncio
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
import tomli_w
from conftest import ROOT
from fakes import LOOPBACK_TLS, app_config, free_port
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from engines import loader
from engines.base import Pauses, Piece, SpeechSettings, Synthesizer, VoiceInfo
from engines.loader import ModelFiles
from engines.models.registry import VoiceEntry
from server.config import Settings
from server.testing import ThreadedServer, serve_in_thread

Tone = tuple[ThreadedServer, int]
"""The server, and its Wyoming port."""
UNIT_S = 0.06
"""Seconds of tone per character of text, at speed 1."""


@dataclass
class ToneSynthesizer:
    """Speaks every sentence as a sine at the pitch its voice file names."""

    hz: float
    rate: int
    language: str

    @property
    def info(self) -> VoiceInfo:
        return VoiceInfo(engine="tone", language=self.language, sample_rate=self.rate)

    def pieces(self, text: str, pauses: Pauses | None = None, quick_start: bool = True) -> list[Piece]:
        pause = (pauses or Pauses()).sentence_s
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if re.search(r"\w", s)]
        return [Piece(list(s), pause if i < len(sentences) - 1 else 0.0) for i, s in enumerate(sentences)]

    def render(self, units: list[str], settings: SpeechSettings, speed: float = 1.0) -> np.ndarray:
        t = np.arange(int(UNIT_S * len(units) / speed * self.rate)) / self.rate
        return (0.3 * np.sin(2 * np.pi * self.hz * t)).astype(np.float32)


def make_tone(path: Path, voice: VoiceEntry, use_cuda: bool) -> Synthesizer:
    spec = json.loads(path.read_text(encoding="utf-8"))
    return ToneSynthesizer(hz=float(spec["hz"]), rate=int(spec["rate"]), language=spec["language"])


def pitch(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))])


@pytest.fixture(scope="module")
def tone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tone]:
    """The real app and the real engine factory (ModelFiles), with the tone engine registered under
    its name and a models.toml that names it for two voices."""
    folder = tmp_path_factory.mktemp("tone")
    (folder / "beep.json").write_text(json.dumps({"hz": 440, "rate": 16000, "language": "en-us"}))
    (folder / "boop.json").write_text(json.dumps({"hz": 880, "rate": 22050, "language": "en-us"}))
    document = {
        "models": {"openai/tts-1": {"task": "synthesis", "aliases": ["tts-1"], "preload": True}},
        "voices": {
            "beep": {"engine": "tone", "source": {"path": "beep.json"}},
            "boop": {"engine": "tone", "source": {"path": "boop.json"}},
        },
        "voice_map": {"alloy": {"voice": "beep"}, "nova": {"voice": "boop"}},
    }
    (folder / "models.toml").write_text(tomli_w.dumps(document), encoding="utf-8")
    port = free_port()
    settings = Settings(
        models_path=folder / "models.toml",
        cache_dir=folder / "cache",
        wyoming_uri=f"tcp://127.0.0.1:{port}",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(loader.SYNTHESIZERS, "tone", make_tone)
        running = serve_in_thread(app_config(settings, ModelFiles(settings.cache_dir)))
        try:
            httpx.get(running.url + "/ready", timeout=10).raise_for_status()
            yield running, port
        finally:
            running.stop()


def test_the_native_route_speaks_with_the_new_engine(tone_server: Tone) -> None:
    running, _ = tone_server
    body = {"model": "tts-1", "input": "Hello there. How are you?", "voice": "beep", "response_format": "wav"}
    with httpx.Client(verify=LOOPBACK_TLS, timeout=30) as client:
        response = client.post(running.url + "/v1/inference/audio/synthesize", json=body)
    assert response.status_code == 200, response.text
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    # The engine's 16 kHz tone, resampled to the API's 24 kHz: pitch and length as the engine made them.
    assert rate == 24000
    assert pitch(audio, rate) == pytest.approx(440, abs=5)
    spoken = UNIT_S * (len("Hello there.") + len("How are you?")) + Pauses().sentence_s
    assert len(audio) / rate == pytest.approx(spoken, abs=0.05)


def test_the_openai_client_speaks_with_the_new_engine_by_an_openai_name(tone_server: Tone) -> None:
    running, _ = tone_server
    client = openai.OpenAI(base_url=running.url + "/oai/v1", api_key="unused", max_retries=0)
    speech = client.audio.speech.create(model="tts-1", voice="nova", input="Good morning.", response_format="flac")
    audio, rate = sf.read(io.BytesIO(speech.content), dtype="float32")
    assert pitch(audio, rate) == pytest.approx(880, abs=5)
    with httpx.Client(verify=LOOPBACK_TLS, timeout=30) as http:
        listed = http.get(running.url + "/oai/v1/audio/voices").json()["voices"]
    assert {(v["name"], v["voice"]) for v in listed} >= {("alloy", "beep"), ("nova", "boop"), ("beep", "beep")}


def test_wyoming_lists_and_speaks_the_new_engine(tone_server: Tone) -> None:
    _, port = tone_server
    info, events = asyncio.run(_describe_and_speak(port, "Testing one two."))
    voices = {voice.name: voice for voice in info.tts[0].voices}
    assert {"alloy", "nova", "beep", "boop"} <= set(voices)
    assert voices["beep"].attribution.name == "tone"
    assert voices["beep"].languages == ["en_US"]
    chunks = [AudioChunk.from_event(e) for e in events if AudioChunk.is_type(e.type)]
    assert chunks and all(c.rate == 24000 and c.width == 2 and c.channels == 1 for c in chunks)
    audio = np.frombuffer(b"".join(c.audio for c in chunks), "<i2").astype(np.float32) / 32768
    assert pitch(audio, 24000) == pytest.approx(440, abs=5)
    assert len(audio) / 24000 == pytest.approx(UNIT_S * len("Testing one two."), abs=0.05)


async def _describe_and_speak(port: int, text: str) -> tuple[Info, list[Event]]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        described = await client.read_event()
        assert described is not None
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name="beep")).event())
        events: list[Event] = []
        while True:
            event = await asyncio.wait_for(client.read_event(), 10)
            assert event is not None
            events.append(event)
            if AudioStop.is_type(event.type):
                break
        return Info.from_event(described), events


def test_the_server_imports_engine_types_only_from_the_seam() -> None:
    """server/ may use the seam (engines.base), the loader, audio, text and the model store, never an
    engine's own modules, at any depth of a file."""
    allowed = ("engines.base", "engines.loader", "engines.audio", "engines.text", "engines.models")
    found = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.startswith("engines") and not name.startswith(allowed)
            ]
    assert found == []


def test_serving_and_rendering_load_no_engine_until_a_model_loads() -> None:
    """Rendering an SRT file or starting the app needs neither faster-whisper nor onnxruntime."""
    code = (
        "import sys, server.app, server.render, server.subtitles, server.wyoming\n"
        "print(sorted(m for m in ('faster_whisper', 'ctranslate2', 'piper', 'onnxruntime') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
