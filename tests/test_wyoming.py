"""The Wyoming listener, as Home Assistant uses it: the `wyoming` package's own client over loopback,
against a real server on the embedded models."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from audio_tools import read_audio
from conftest import CLIPS, SPEECH_CLIPS, RunningServer, clip_path, metric, start_server
from wer import wer
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from server.testing import free_port, wait_for

pytestmark = pytest.mark.models
CHUNK = 1024


@pytest.fixture(scope="module")
def wyoming(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    env = {**os.environ, "AUDIO_WYOMING_URI": f"tcp://127.0.0.1:{port}", "AUDIO_WYOMING_IDLE_S": "3"}
    server = start_server(tmp_path_factory.mktemp("wyoming"), env=env)

    def listening() -> bool:  # the listener opens once the models are loaded
        try:
            asyncio.run(_describe(port))
            return True
        except OSError:
            return False

    wait_for(listening, 60, interval=0.2, message=server.log_text)
    yield server, port
    server.stop()


async def _describe(port: int) -> Info:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        event = await client.read_event()
        assert event is not None
        return Info.from_event(event)


def pcm(name: str, rate: int, channels: int) -> bytes:
    decoded = read_audio(clip_path(name))
    samples = decoded.samples
    if decoded.sample_rate != rate:
        import soxr

        samples = soxr.resample(samples, decoded.sample_rate, rate)
    frames = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    return (np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes()


async def transcribe(port: int, audio: bytes, rate: int, channels: int, **fields: str) -> list[Event]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(**fields).event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
        step = CHUNK * 2 * channels
        for at in range(0, len(audio), step):
            await client.write_event(
                AudioChunk(rate=rate, width=2, channels=channels, audio=audio[at : at + step]).event()
            )
        await client.write_event(AudioStop().event())
        stopped = time.perf_counter()
        events = await _until(client, "transcript-stop")
        events[-1].data["seconds_after_audio_stop"] = round(time.perf_counter() - stopped, 3)
        return events


async def _until(client: AsyncTcpClient, last: str, limit: int = 100_000) -> list[Event]:
    events = []
    for _ in range(limit):
        event = await asyncio.wait_for(client.read_event(), 120)
        assert event is not None, [e.type for e in events]
        events.append(event)
        if event.type in (last, "error"):
            return events
    raise AssertionError("no end")


def test_describe_lists_models_and_voices_quickly(wyoming: tuple[RunningServer, int]) -> None:
    started = time.perf_counter()
    info = asyncio.run(_describe(wyoming[1]))
    assert time.perf_counter() - started < 1.0  # Home Assistant gives describe one second
    asr, tts = info.asr[0], info.tts[0]
    assert asr.supports_transcript_streaming and tts.supports_synthesize_streaming
    models = {m.name: m for m in asr.models}
    assert "en" in models["local/whisper-tiny.en"].languages and len(models["local/whisper-tiny.en"].languages) == 1
    assert {"de", "fr", "en"} <= set(models["openai/whisper-1"].languages)
    voices = {v.name: v for v in tts.voices}
    assert {"alloy", "nova", "en_US-joe-medium", "hibari-heart", "kokoro-jf_alpha"} <= set(voices)
    assert all(v.installed for v in voices.values())
    japanese = {name for name in voices if name.startswith("kokoro-j")}
    assert len(japanese) == 5 and all(voices[name].languages == ["ja"] for name in japanese)
    assert all(v.languages == ["en_US"] for name, v in voices.items() if name not in japanese)
    # Each says what it sounds like: the voice behind a name, and its gender.
    assert voices["nova"].description == "nova (hibari-heart, female)"
    assert voices["onyx"].description == "onyx (en_US-joe-medium, male)"
    assert voices["kokoro-jm_kumo"].description == "kokoro-jm_kumo (male)"


@pytest.mark.parametrize("name", SPEECH_CLIPS)
def test_clips_sent_in_chunks_at_16_khz(wyoming: tuple[RunningServer, int], client: httpx.Client, name: str) -> None:
    server, port = wyoming
    events = asyncio.run(transcribe(port, pcm(name, 16000, 1), 16000, 1, language=CLIPS[name]["language"]))
    types = [e.type for e in events]
    assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"], types
    assert all(t == "transcript-chunk" for t in types[1:-2])
    transcript = Transcript.from_event(events[-2])
    assert transcript.language == CLIPS[name]["language"]
    chunks = "".join(e.data["text"] for e in events[1:-2]).strip()
    assert chunks == transcript.text
    # The same clip over HTTP from the same server: Wyoming must not lose anything on the way.
    with open(clip_path(name), "rb") as f:
        http_text = httpx.post(
            server.url + "/v1/inference/audio/transcribe",
            data={"model": "whisper-1", "language": CLIPS[name]["language"]},
            files={"file": (name, f)},
            timeout=180,
        ).json()["data"]["text"]
    reference = CLIPS[name]["reference_text"]
    assert wer(reference, transcript.text) <= wer(reference, http_text) + 0.1, (transcript.text, http_text)


def test_44_khz_stereo_is_resampled(wyoming: tuple[RunningServer, int]) -> None:
    events = asyncio.run(transcribe(wyoming[1], pcm("jfk_ask_not.flac", 44100, 2), 44100, 2))
    print(f"\naudio-stop to transcript-stop, 11 s at 44.1 kHz stereo: {events[-1].data['seconds_after_audio_stop']} s")
    short = asyncio.run(transcribe(wyoming[1], pcm("pocketsphinx_cards_002.wav", 16000, 1), 16000, 1, language="en"))
    print(f"audio-stop to transcript-stop, a 2 s command: {short[-1].data['seconds_after_audio_stop']} s")
    text = Transcript.from_event(events[-2]).text
    assert wer(CLIPS["jfk_ask_not.flac"]["reference_text"], text) <= 0.2, text


def test_silence_gives_an_empty_transcript(wyoming: tuple[RunningServer, int]) -> None:
    silence = np.zeros(16000 * 4, dtype="<i2").tobytes()
    events = asyncio.run(transcribe(wyoming[1], silence, 16000, 1, language="en"))
    assert Transcript.from_event(events[-2]).text == ""


async def _synthesize(port: int, *events: Event, until: str = "audio-stop") -> tuple[list[Event], float]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        started = time.perf_counter()
        for event in events:
            await client.write_event(event)
        answer = await _until(client, until)
        first = next((i for i, e in enumerate(answer) if e.type == "audio-chunk"), None)
        return answer, (time.perf_counter() - started) if first is not None else -1.0


def test_synthesize(wyoming: tuple[RunningServer, int]) -> None:
    text = Synthesize(text="Turn on the kitchen lights. It is getting dark.", voice=SynthesizeVoice(name="nova"))
    events, _ = asyncio.run(_synthesize(wyoming[1], text.event()))
    assert events[0].type == "audio-start" and events[0].data["rate"] == 24000 and events[-1].type == "audio-stop"
    audio = b"".join(AudioChunk.from_event(e).audio for e in events if e.type == "audio-chunk")
    assert 1.5 < len(audio) / 48000 < 8


def test_time_to_first_audio(wyoming: tuple[RunningServer, int]) -> None:
    async def first_chunk() -> float:
        async with AsyncTcpClient("127.0.0.1", wyoming[1]) as client:
            started = time.perf_counter()
            await client.write_event(Synthesize(text="The door is locked.").event())
            while (event := await client.read_event()) is not None and event.type != "audio-chunk":
                pass
            first = time.perf_counter() - started
            await _until(client, "audio-stop")
            return first

    seconds = asyncio.run(first_chunk())
    print(f"\nsynthesize to first audio-chunk, short utterance: {seconds:.3f} s")
    assert seconds < 2.0


def test_streaming_synthesis(wyoming: tuple[RunningServer, int]) -> None:
    voice = SynthesizeVoice(name="alloy")
    sent = [
        SynthesizeStart(voice=voice).event(),
        SynthesizeChunk(text="The garage door ").event(),
        SynthesizeChunk(text="is open. Shall I ").event(),
        SynthesizeChunk(text="close it?").event(),
        Synthesize(text="The garage door is open. Shall I close it?", voice=voice).event(),
        SynthesizeStop().event(),
    ]
    events, _ = asyncio.run(_synthesize(wyoming[1], *sent, until="synthesize-stopped"))
    types = [e.type for e in events]
    assert types[0] == "audio-start" and types[-2:] == ["audio-stop", "synthesize-stopped"], types
    assert types.count("audio-start") == 1
    audio = b"".join(AudioChunk.from_event(e).audio for e in events if e.type == "audio-chunk")
    assert 1.5 < len(audio) / 48000 < 8  # both sentences, once: the trailing `synthesize` was not spoken again


def test_streamed_japanese_is_spoken_sentence_by_sentence(wyoming: tuple[RunningServer, int]) -> None:
    # No space follows "。": the first sentence is spoken before the text stops.
    async def audio_before_stop() -> bool:
        async with AsyncTcpClient("127.0.0.1", wyoming[1]) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="kokoro-jf_alpha")).event())
            await client.write_event(SynthesizeChunk(text="駅までは歩いて十分です。今日は").event())
            try:
                async with asyncio.timeout(30):
                    while (event := await client.read_event()) is not None and event.type != "audio-chunk":
                        pass
            except (TimeoutError, ConnectionError):  # nothing spoken before the idle limit closed it
                return False
            spoken = event is not None
            await client.write_event(SynthesizeChunk(text="雨です。").event())
            await client.write_event(SynthesizeStop().event())
            await _until(client, "synthesize-stopped")
            return spoken

    assert asyncio.run(audio_before_stop())


def test_errors_are_events_and_the_connection_stays_usable(wyoming: tuple[RunningServer, int]) -> None:
    async def run() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", wyoming[1]) as client:
            answers = []
            await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="nobody")).event())
            answers.append(await client.read_event())
            await client.write_event(Transcribe(name="no-such-model").event())
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=b"\0\0" * 1600).event())
            await client.write_event(AudioStop().event())
            answers.append(await client.read_event())
            await client.write_event(Describe().event())
            answers.append(await client.read_event())
            return [a for a in answers if a is not None]

    voice_error, model_error, info = asyncio.run(run())
    assert Error.from_event(voice_error).code == "voice_not_found" and "nobody" in Error.from_event(voice_error).text
    assert Error.from_event(model_error).code == "model_not_found"
    assert info.type == "info"


def test_two_clients_at_once(wyoming: tuple[RunningServer, int]) -> None:
    audio = pcm("librivox_sense_and_sensibility_0880.mp3", 16000, 1)

    async def both() -> list[list[Event]]:
        return list(await asyncio.gather(*(transcribe(wyoming[1], audio, 16000, 1, language="en") for _ in range(2))))

    for events in asyncio.run(both()):
        assert Transcript.from_event(events[-2]).text


def test_a_client_that_leaves_mid_stream_frees_its_slot(
    wyoming: tuple[RunningServer, int], client: httpx.Client
) -> None:
    server, port = wyoming

    async def leave_early() -> None:
        async with AsyncTcpClient("127.0.0.1", port) as wy:
            await wy.write_event(Synthesize(text="This is a long answer. " * 60).event())
            while (event := await wy.read_event()) is not None and event.type != "audio-chunk":
                pass

    asyncio.run(leave_early())
    with httpx.Client(base_url=server.url, timeout=10) as c:
        wait_for(
            lambda: metric(c, "audio_active_requests", model="openai/tts-1") <= 0,
            20,
            interval=0.1,
            message="the abandoned synthesis still holds its slot",
        )
        processed = metric(c, "audio_processed_audio_seconds_total", model="openai/tts-1")
    assert processed < 60 * 2  # far from the whole answer (about 60 sentences)


def test_an_idle_connection_is_closed(wyoming: tuple[RunningServer, int]) -> None:
    async def idle() -> float:
        async with AsyncTcpClient("127.0.0.1", wyoming[1]) as wy:
            started = time.perf_counter()
            assert await asyncio.wait_for(wy.read_event(), 20) is None
            return time.perf_counter() - started

    assert 2.5 < asyncio.run(idle()) < 10
