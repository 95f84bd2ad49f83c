"""Live transcription end to end: the embedded tiny.en behind a real server serving HTTPS and WSS with a
certificate made here, the official `openai` client streaming real speech, and the turns' transcripts
held to the file route's on the same audio."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import clip_path
from openai import OpenAI
from wer import wer

from engines.audio.decode import decode
from server.testing import RunningServer, start_server

pytestmark = pytest.mark.models

RATE = 16000
CLIPS = ["jfk_ask_not.flac", "pocketsphinx_cards_002.wav", "librivox_sense_and_sensibility_0880.mp3"]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]) -> Iterator[RunningServer]:
    cert, key = certificate
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with start_server(tmp_path_factory.mktemp("server"), env={"AUDIO_NO_PRELOAD": "1"}, args=args) as running:
        yield running


# openai 3.57 opens its socket with websockets' `connect()` outside a `with`, which websockets 15 warns of.
@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_the_official_client_over_wss_transcribes_turns_as_the_file_route_does(
    tls_server: RunningServer, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = certificate
    assert tls_server.url.startswith("https://")
    trusted = ssl.create_default_context(cafile=str(cert))
    # Three turns of real speech, a second of silence after each.
    pieces = [np.concatenate([decode(clip_path(c)), np.zeros(RATE, np.float32)]) for c in CLIPS]
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), *pieces])
    pcm = (np.clip(soxr.resample(audio, RATE, 24000), -1, 1) * 32767).astype("<i2").tobytes()

    client = OpenAI(base_url=tls_server.url + "/oai/v1", api_key="unused", http_client=httpx.Client(verify=trusted))
    options = cast(Any, {"ssl": trusted})
    transcripts: dict[str, str] = {}
    deltas: dict[str, str] = {}
    with client.realtime.connect(extra_query={"intent": "transcription"}, websocket_connection_options=options) as c:
        assert c.recv().type == "session.created"
        # Pauses within a sentence end no turn; the second between the clips does.
        turns = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 700}
        audio_input = {"transcription": {"model": "tiny.en"}, "turn_detection": turns}
        c.session.update(session={"type": "transcription", "audio": {"input": cast(Any, audio_input)}})
        assert c.recv().type == "session.updated"
        # Faster than real time: 0.5 s of audio a message.
        for start in range(0, len(pcm), 24000):
            c.input_audio_buffer.append(audio=base64.b64encode(pcm[start : start + 24000]).decode())
        while len(transcripts) < len(CLIPS):
            event = c.recv()
            assert event.type != "error", event
            if event.type == "conversation.item.input_audio_transcription.delta":
                deltas[event.item_id] = deltas.get(event.item_id, "") + (event.delta or "")
            if event.type == "conversation.item.input_audio_transcription.completed":
                transcripts[event.item_id] = event.transcript
    # Deltas only ever append to what the final reading says.
    for item, text in deltas.items():
        assert transcripts[item].startswith(text.strip()) or not text.strip(), (text, transcripts[item])
    # The turns as the file route hears the same clips (a turn has a little silence around its clip, so
    # a short word may be heard otherwise: the bound is over all of them).
    heard = []
    with httpx.Client(base_url=tls_server.url, verify=trusted, timeout=120) as http:
        for clip in CLIPS:
            path = tmp_path / f"{Path(clip).stem}.wav"
            sf.write(path, decode(clip_path(clip)), RATE)
            files = {"file": (path.name, path.read_bytes())}
            response = http.post("/v1/inference/audio/transcribe", data={"model": "tiny.en"}, files=files)
            heard.append(response.json()["data"]["text"])
    live = " ".join(transcripts.values())
    assert wer(" ".join(heard), live) <= 0.1, (heard, live)
