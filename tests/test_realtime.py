"""Live transcription over the realtime WebSocket protocol, on fake engines: the session object and its
updates, turns found by the server's VAD or committed by the client, deltas that only append, the
errors that leave the session open, and the official `openai` client's GA connection."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import numpy as np
import pytest
import soxr
import websockets.sync.client
from conftest import clip_path, metric
from fakes import FastServer
from openai import OpenAI
from websockets.typing import Subprotocol

from engines.audio.decode import decode
from engines.audio.g711 import ALAW, ULAW
from server.core import Core
from server.realtime.previews import Previews, preview_limit
from server.realtime.session import Session
from server.testing import wait_for

URL = "/oai/v1/realtime?intent=transcription"
RATE = 16000
CARDS = "pocketsphinx_cards_002.wav"


def ws_url(server: FastServer, path: str = URL) -> str:
    return server.url.replace("http://", "ws://", 1) + path


@pytest.fixture()
def socket(fast: FastServer) -> Iterator[Any]:
    with websockets.sync.client.connect(ws_url(fast), open_timeout=10) as connection:
        yield connection


def recv(connection: Any, timeout: float = 10) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(connection.recv(timeout=timeout))
    return event


def send(connection: Any, kind: str, **fields: Any) -> None:
    connection.send(json.dumps({"type": kind, **fields}))


def until(connection: Any, kind: str, timeout: float = 10) -> list[dict[str, Any]]:
    """Events up to and with the first of `kind`."""
    seen = []
    while True:
        event = recv(connection, timeout)
        seen.append(event)
        if event["type"] == kind:
            return seen


def transcribe_with(connection: Any, model: str = "whisper-1", **audio_input: Any) -> dict[str, Any]:
    assert recv(connection)["type"] == "session.created"
    update = {"type": "transcription", "audio": {"input": {"transcription": {"model": model}, **audio_input}}}
    send(connection, "session.update", session=update)
    updated = recv(connection)
    assert updated["type"] == "session.updated", updated
    return updated


def pcm24(audio: np.ndarray) -> bytes:
    samples = np.clip(soxr.resample(audio, RATE, 24000), -1, 1) * 32767
    return bytes(samples.astype("<i2").tobytes())


def append(connection: Any, data: bytes, chunk: int = 9600) -> None:
    for start in range(0, len(data), chunk):
        send(connection, "input_audio_buffer.append", audio=base64.b64encode(data[start : start + chunk]).decode())


def fake_transcript(seconds: float) -> str:
    """What the fake engine hears in a turn of `seconds`: two words for every second begun."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    count = math.ceil(round(seconds, 3))
    return " ".join(f"{words[(2 * i) % 8]} {words[(2 * i + 1) % 8]}." for i in range(count))


def heard(seconds: float) -> tuple[str, str]:
    """What the fake engine may say of a turn of `seconds` found by the server's VAD: a reading of the
    whole turn, or one of its speech up to the 200 ms of silence that ended it (begun at the pause)."""
    return fake_transcript(seconds), fake_transcript(seconds - 0.2)


def speech(name: str = CARDS, before: float = 0.5, after: float = 1.0) -> np.ndarray:
    silence = np.zeros(int(before * RATE), np.float32)
    return np.concatenate([silence, decode(clip_path(name)), np.zeros(int(after * RATE), np.float32)])


def test_the_session_starts_as_openais_does_and_updates_in_part(socket: Any) -> None:
    created = recv(socket)
    assert created["type"] == "session.created" and created["event_id"].startswith("event_")
    session = created["session"]
    assert session["object"] == "realtime.transcription_session" and session["id"].startswith("sess_")
    assert session["audio"]["input"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
        },
    }
    send(
        socket,
        "session.update",
        session={
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe", "language": "en"}}},
        },
    )
    updated = recv(socket)["session"]["audio"]["input"]
    assert updated["transcription"] == {"model": "openai/whisper-1", "language": "en", "prompt": None}
    assert updated["turn_detection"]["silence_duration_ms"] == 200  # what the update left out stays
    # A bad update is refused whole, and the session goes on with what it had.
    send(
        socket,
        "session.update",
        event_id="evt_1",
        session={"type": "transcription", "audio": {"input": {"turn_detection": None, "bogus": 1}}},
    )
    error = recv(socket)
    assert error["type"] == "error"
    assert error["error"]["code"] == "unknown_parameter" and error["error"]["param"] == "session.audio.input.bogus"
    assert error["error"]["event_id"] == "evt_1"
    send(
        socket,
        "session.update",
        session={"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
    )
    assert recv(socket)["error"]["code"] == "integer_below_min_value"
    send(
        socket,
        "session.update",
        session={
            "type": "transcription",
            "audio": {"input": {"turn_detection": None, "format": {"type": "audio/pcmu"}}},
        },
    )
    final = recv(socket)["session"]["audio"]["input"]
    assert final["turn_detection"] is None and final["format"] == {"type": "audio/pcmu"}
    assert final["transcription"]["model"] == "openai/whisper-1"


def test_a_turn_found_by_the_servers_vad_goes_through_every_event_in_order(socket: Any) -> None:
    transcribe_with(socket)
    append(socket, pcm24(np.concatenate([speech(), speech()])))
    seen = until(socket, "conversation.item.input_audio_transcription.completed")
    item = seen[0]["item_id"]
    assert item.startswith("item_")
    # Sent faster than real time, the second turn starts before the first is transcribed: items
    # overlap, and clients follow each by its id.
    events = [e for e in seen if e.get("item_id", e.get("item", {}).get("id")) == item]
    kinds = [e["type"] for e in events]
    # Deltas may come at any point after the start (the turn is read again as it goes on).
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert [k for k in kinds if k in order] == order
    first = events[0]
    # The speech's start (the clip's own starts 0.12 s in), less the 300 ms of prefix padding.
    assert first["audio_start_ms"] == 620 - 300
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    assert committed["previous_item_id"] is None
    completed = events[-1]
    assert completed["usage"]["type"] == "duration" and completed["usage"]["seconds"] > 1.9
    assert completed["transcript"] in heard(completed["usage"]["seconds"])
    assert completed["content_index"] == 0
    deltas = "".join(e["delta"] for e in events if e["type"].endswith(".delta"))
    assert deltas == completed["transcript"]
    # The next turn names the one before it.
    second = seen + until(socket, "conversation.item.input_audio_transcription.completed")
    committed = next(e for e in second if e["type"] == "input_audio_buffer.committed" and e["item_id"] != item)
    assert committed["previous_item_id"] == item and committed["item_id"] != item


def test_deltas_come_while_the_person_is_still_speaking_and_only_append(socket: Any) -> None:
    transcribe_with(socket)
    # Six seconds of unbroken sound (the fake engine reads two words a second), then silence.
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(6 * RATE) / RATE).astype(np.float32)
    audio = pcm24(np.concatenate([tone, np.zeros(RATE, np.float32)]))
    append(socket, audio[: 6 * 48000])
    # Agreed words go out while the turn goes on: the silence that ends it is sent only after them.
    early = until(socket, "conversation.item.input_audio_transcription.delta", timeout=20)
    assert "input_audio_buffer.speech_stopped" not in [e["type"] for e in early]
    append(socket, audio[6 * 48000 :])
    events = early + until(socket, "conversation.item.input_audio_transcription.completed", timeout=20)
    deltas = "".join(e["delta"] for e in events if e["type"].endswith(".delta"))
    assert events[-1]["transcript"].startswith(deltas) and deltas == events[-1]["transcript"]


def test_the_reading_begun_when_the_speech_pauses_is_the_turns_final_reading(fast: FastServer, socket: Any) -> None:
    transcribe_with(socket)

    def tone(seconds: float) -> np.ndarray:
        return (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * RATE), np.float32)

    readings = fast.engines.readings
    before = len(readings)
    # 50 ms pieces, so that the pause is heard before the silence has lasted long enough to end the turn.
    append(socket, pcm24(np.concatenate([silence(0.5), tone(1.6), silence(1.0)])), chunk=2400)
    completed = until(socket, "conversation.item.input_audio_transcription.completed")[-1]
    # The turn runs from 0.2 s (300 ms of padding) to 200 ms of silence past its speech, at 2.3 s;
    # its speech paused at 2.1 s, and the reading of those 1.9 s, begun then, is the final one.
    assert completed["usage"]["seconds"] == pytest.approx(2.1, abs=0.03)
    assert completed["transcript"] == fake_transcript(1.9)
    assert not [r for r in readings[before:] if r > 2.0]  # the whole turn was never read again
    # A pause shorter than the silence that ends a turn is only a pause: the final reading hears the rest.
    append(socket, pcm24(np.concatenate([tone(1.0), silence(0.1), tone(1.0), silence(1.0)])), chunk=2400)
    completed = until(socket, "conversation.item.input_audio_transcription.completed")[-1]
    assert completed["transcript"] == fake_transcript(0.3 + 1.0 + 0.1 + 1.0)


def test_previews_keep_a_core_free_for_final_readings() -> None:
    assert [preview_limit("cpu", cores, 8) for cores in (1, 2, 4, 16)] == [1, 1, 3, 7]
    assert preview_limit("cuda", 2, 16) == 15
    previews = Previews(None)  # a limit of one
    assert previews.take("m") and not previews.room("m") and not previews.take("m")
    assert previews.take("other")
    previews.done("m")
    assert previews.take("m")


def test_a_turn_committed_by_the_client(socket: Any) -> None:
    transcribe_with(socket, turn_detection=None)
    send(socket, "input_audio_buffer.commit")
    empty = recv(socket)
    assert empty["type"] == "error" and empty["error"]["code"] == "input_audio_buffer_commit_empty"
    append(socket, pcm24(speech()))
    send(socket, "input_audio_buffer.commit")
    events = until(socket, "conversation.item.input_audio_transcription.completed")
    assert events[0]["type"] == "input_audio_buffer.committed"
    assert "input_audio_buffer.speech_started" not in [e["type"] for e in events]
    # The whole buffer (but what the resampler still holds of its last few milliseconds).
    assert events[-1]["usage"]["seconds"] == pytest.approx(len(speech()) / RATE, abs=0.1)
    append(socket, pcm24(speech()))
    send(socket, "input_audio_buffer.clear")
    assert recv(socket)["type"] == "input_audio_buffer.cleared"
    send(socket, "input_audio_buffer.commit")
    assert recv(socket)["error"]["code"] == "input_audio_buffer_commit_empty"


@pytest.mark.parametrize(("kind", "table"), [("audio/pcmu", ULAW), ("audio/pcma", ALAW)])
def test_telephone_audio(socket: Any, kind: str, table: np.ndarray) -> None:
    transcribe_with(socket, format={"type": kind})
    audio = soxr.resample(speech(), RATE, 8000)
    # Each sample as the code whose value is nearest it.
    order = np.argsort(table)
    codes = order[np.clip(np.searchsorted(table[order], audio * 32767), 0, 255)].astype(np.uint8)
    append(socket, codes.tobytes(), chunk=1600)
    completed = until(socket, "conversation.item.input_audio_transcription.completed")[-1]
    assert completed["transcript"] in heard(completed["usage"]["seconds"])
    assert 2.0 < completed["usage"]["seconds"] < 3.0


def test_bad_events_get_errors_and_the_session_goes_on(socket: Any) -> None:
    transcribe_with(socket)
    socket.send(b"\x00\x01")
    assert recv(socket)["error"]["code"] == "invalid_event"
    socket.send("{not json")
    assert recv(socket)["error"]["code"] == "invalid_json"
    send(socket, "response.create")
    error = recv(socket)["error"]
    assert error["code"] == "invalid_value" and error["param"] == "type"
    send(socket, "input_audio_buffer.append", audio="%%%")
    assert recv(socket)["error"]["param"] == "audio"
    send(
        socket,
        "session.update",
        session={"type": "transcription", "audio": {"input": {"transcription": {"model": "nope"}}}},
    )
    assert recv(socket)["error"]["code"] == "model_not_found"
    append(socket, pcm24(speech()))
    completed = until(socket, "conversation.item.input_audio_transcription.completed")[-1]
    assert completed["transcript"] in heard(completed["usage"]["seconds"])


def test_a_session_needs_the_transcription_intent(fast: FastServer) -> None:
    with websockets.sync.client.connect(ws_url(fast, "/oai/v1/realtime?model=gpt-realtime")) as connection:
        error = recv(connection)
        assert error["type"] == "error" and error["error"]["code"] == "invalid_intent"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            connection.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    # A transcription model named with no intent (older openai-node) opens a transcription session.
    with websockets.sync.client.connect(ws_url(fast, "/oai/v1/realtime?model=whisper-1")) as connection:
        created = recv(connection)
        assert created["session"]["audio"]["input"]["transcription"]["model"] == "openai/whisper-1"


# openai 3.57 opens its socket with websockets' `connect()` outside a `with`, which websockets 15 warns of.
@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_the_official_client_transcribes_live(fast: FastServer) -> None:
    client = OpenAI(base_url=fast.url + "/oai/v1", api_key="unused")
    with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        assert connection.recv().type == "session.created"
        connection.session.update(
            session={"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
        )
        assert connection.recv().type == "session.updated"
        connection.input_audio_buffer.append(audio=base64.b64encode(pcm24(speech())).decode())
        while (event := connection.recv()).type != "conversation.item.input_audio_transcription.completed":
            pass
        usage = event.usage
        assert usage.type == "duration" and isinstance(usage.seconds, float)
        assert event.transcript == fake_transcript(usage.seconds)


def offering(*names: str) -> list[Subprotocol]:
    return [Subprotocol(name) for name in names]


def test_keys_as_the_clients_send_them_and_short_lived_keys_for_pages(
    fast_server_with: Callable[..., FastServer],
) -> None:
    running = fast_server_with(api_keys=frozenset({"sk-real"}))
    url = ws_url(running)

    def refused(**how: Any) -> tuple[dict[str, Any], int]:
        with websockets.sync.client.connect(url, open_timeout=10, **how) as connection:
            event = recv(connection)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                connection.recv(timeout=5)
        assert closed.value.rcvd is not None
        return event, closed.value.rcvd.code

    # No key, or a wrong one: an error event and close 3000, and never a session.
    for how in ({}, {"additional_headers": {"Authorization": "Bearer sk-wrong"}}):
        event, code = refused(**how)
        assert (event["type"], event["error"]["code"], code) == ("error", "invalid_api_key", 3000)
    # The real key as a Bearer header, or as the subprotocol browsers send (with `realtime` chosen).
    with websockets.sync.client.connect(url, additional_headers={"Authorization": "Bearer sk-real"}) as connection:
        assert recv(connection)["type"] == "session.created"
    with websockets.sync.client.connect(
        url, subprotocols=offering("realtime", "openai-insecure-api-key.sk-real")
    ) as connection:
        assert connection.subprotocol == "realtime" and recv(connection)["type"] == "session.created"
    # A page's key: minted with the real one, good for sessions only, until it expires.
    with httpx.Client(base_url=running.url, timeout=10) as http:
        secrets_url = "/oai/v1/realtime/client_secrets"
        assert http.post(secrets_url, json={}).status_code == 401
        body = {
            "expires_after": {"anchor": "created_at", "seconds": 60},
            "session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}},
        }
        minted = http.post(secrets_url, json=body, headers={"Authorization": "Bearer sk-real"}).json()
        assert minted["value"].startswith("ek_") and minted["expires_at"] > time.time() + 50
        assert minted["session"]["audio"]["input"]["transcription"]["model"] == "openai/whisper-1"
        ephemeral = minted["value"]
        assert http.get("/v1/models", headers={"Authorization": f"Bearer {ephemeral}"}).status_code == 401
        bad = {"expires_after": {"seconds": 5}}
        assert http.post(secrets_url, json=bad, headers={"Authorization": "Bearer sk-real"}).status_code == 400
    with websockets.sync.client.connect(
        url, subprotocols=offering("realtime", f"openai-insecure-api-key.{ephemeral}")
    ) as c:
        # The session starts as the key was minted for.
        created = recv(c)
        assert created["type"] == "session.created"
        assert created["session"]["audio"]["input"]["transcription"]["model"] == "openai/whisper-1"
    forged = ephemeral[:-1] + ("0" if ephemeral[-1] != "0" else "1")
    assert refused(subprotocols=offering("realtime", f"openai-insecure-api-key.{forged}"))[1] == 3000
    # Nor can the session a key carries be changed without its MAC failing.
    body, _, mac = ephemeral.rpartition(".")
    assert refused(subprotocols=offering("realtime", f"openai-insecure-api-key.{body}x.{mac}"))[1] == 3000


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_the_beta_client_gets_the_beta_dialect(fast: FastServer) -> None:
    ws_base = fast.url.replace("http://", "ws://", 1) + "/oai/v1"
    client = OpenAI(base_url=fast.url + "/oai/v1", websocket_base_url=ws_base, api_key="unused")
    # The beta client must name a model, and sends OpenAI-Beta: realtime=v1.
    with client.beta.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as connection:
        # Not in the SDK's beta union: it parses it as another event, whose `type` keeps the name.
        created: str = cast(str, connection.recv().type)
        assert created == "transcription_session.created"
        connection.transcription_session.update(
            session={
                "input_audio_format": "pcm16",
                "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 300},
            }
        )
        updated = connection.recv()
        assert updated.type == "transcription_session.updated"
        connection.input_audio_buffer.append(audio=base64.b64encode(pcm24(speech())).decode())
        kinds = []
        while (event := connection.recv()).type != "conversation.item.input_audio_transcription.completed":
            kinds.append(event.type)
        assert "conversation.item.created" in kinds and "conversation.item.added" not in kinds


def test_a_beta_update_switches_a_plain_socket_to_the_beta_dialect(socket: Any) -> None:
    assert recv(socket)["type"] == "session.created"
    session = {
        "input_audio_format": "g711_ulaw",
        "input_audio_transcription": {"model": "whisper-1"},
        "turn_detection": None,
        "input_audio_noise_reduction": {"type": "near_field"},
    }
    send(socket, "transcription_session.update", session=session)
    updated = recv(socket)
    assert updated["type"] == "transcription_session.updated"
    beta = updated["session"]
    assert beta["input_audio_format"] == "g711_ulaw" and beta["turn_detection"] is None
    assert beta["input_audio_transcription"]["model"] == "openai/whisper-1" and beta["client_secret"] is None
    send(socket, "transcription_session.update", session={"input_audio_format": "mp3"})
    assert recv(socket)["error"]["param"] == "session.input_audio_format"
    send(socket, "input_audio_buffer.append", audio=base64.b64encode(bytes([0x00, 0x80] * 4000)).decode())
    send(socket, "input_audio_buffer.commit")
    events = until(socket, "conversation.item.input_audio_transcription.completed")
    created = next(e for e in events if e["type"] == "conversation.item.created")
    assert created["item"]["object"] == "realtime.item" and created["item"]["role"] == "user"


def test_sessions_end_when_idle_or_at_their_length_and_are_pinged(
    fast_server_with: Callable[..., FastServer], caplog: pytest.LogCaptureFixture
) -> None:
    running = fast_server_with(realtime_idle_s=1.0, realtime_max_s=2.5, ws_ping_s=0.3)
    caplog.set_level(logging.DEBUG, logger="websockets.client")

    def ending(keep_talking: bool) -> tuple[dict[str, Any], int, float]:
        with websockets.sync.client.connect(ws_url(running)) as connection:
            started = time.monotonic()
            assert recv(connection)["type"] == "session.created"
            while True:
                if keep_talking:
                    send(connection, "input_audio_buffer.append", audio=base64.b64encode(bytes(960)).decode())
                try:
                    event = recv(connection, timeout=0.4)
                except TimeoutError:
                    continue
                if event["type"] == "error":
                    break
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                connection.recv(timeout=5)
        assert closed.value.rcvd is not None
        return event, closed.value.rcvd.code, time.monotonic() - started

    idle, code, lasted = ending(keep_talking=False)
    assert idle["error"]["code"] == "session_idle" and code == 1000 and lasted < 2.0
    expired, code, lasted = ending(keep_talking=True)
    assert expired["error"]["code"] == "session_expired" and code == 1000 and 2.4 < lasted < 4.0
    # The server pinged the client while it stayed open (websockets logs each frame it receives).
    assert any("< PING" in r.getMessage() for r in caplog.records)


def test_a_client_that_vanishes_frees_its_slot_at_once(
    fast_server_with: Callable[..., FastServer],
) -> None:
    running = fast_server_with()
    gate = running.engines.gate
    with httpx.Client(base_url=running.url, timeout=10) as http:
        wait_for(lambda: http.get("/ready").status_code == 200, 10)
        gate.close()
        with websockets.sync.client.connect(ws_url(running)) as connection:
            transcribe_with(connection, turn_detection=None)
            append(connection, pcm24(speech()))
            send(connection, "input_audio_buffer.commit")
            gate.wait_for_waiting(1)  # its turn is being transcribed, holding a slot
            assert metric(http, "audio_active_requests", model="openai/whisper-1") == 1
        # Gone mid-turn: once the server has seen it go, the work stops at its next step and the slot is free.
        wait_for(lambda: metric(http, "audio_websocket_open_sessions", route="/oai/v1/realtime") == 0, 5)
        gate.allow(1)
        wait_for(lambda: metric(http, "audio_active_requests", model="openai/whisper-1") == 0, 5)
        gate.open()


def test_turns_and_their_latency_are_counted(fast: FastServer, socket: Any) -> None:
    with httpx.Client(base_url=fast.url, timeout=10) as http:
        turns = metric(http, "audio_realtime_turns_total", model="openai/whisper-1")
        timed = metric(http, "audio_realtime_completed_seconds_count", model="openai/whisper-1")
        transcribe_with(socket)
        append(socket, pcm24(speech()))
        until(socket, "conversation.item.input_audio_transcription.completed")
        assert metric(http, "audio_realtime_turns_total", model="openai/whisper-1") == turns + 1
        assert metric(http, "audio_realtime_completed_seconds_count", model="openai/whisper-1") == timed + 1
        assert metric(http, "audio_websocket_open_sessions", route="/oai/v1/realtime") >= 1


def test_a_session_hearing_silence_holds_only_the_padding() -> None:
    async def scenario() -> None:
        sent: list[dict[str, Any]] = []

        async def collect(event: dict[str, Any]) -> None:
            sent.append(event)

        session = Session(cast(Core, None), collect)  # no model is set: nothing is transcribed
        await session.start()
        silence = base64.b64encode(bytes(48000)).decode()  # one second at 24 kHz
        for _ in range(30):
            await session.receive(json.dumps({"type": "input_audio_buffer.append", "audio": silence}))
        held = sum(len(a) for a in session._audio)
        assert held <= RATE * 0.6, held  # 300 ms of padding and a little, not 30 s
        await session.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "audio_input",
    [
        {"turn_detection": {"type": "semantic_vad", "eagerness": []}},
        {"turn_detection": {"type": ["server_vad"]}},
        {"format": {"type": {}}},
        {"transcription": {"model": "whisper-1", "language": 7}},
        {"noise_reduction": {"type": []}},
    ],
)
def test_values_of_the_wrong_kind_are_errors_not_crashes(socket: Any, audio_input: dict[str, Any]) -> None:
    assert recv(socket)["type"] == "session.created"
    send(socket, "session.update", session={"type": "transcription", "audio": {"input": audio_input}})
    assert recv(socket)["type"] == "error"
    send(socket, "session.update", session={"type": "transcription", "include": [{}]})
    assert recv(socket)["type"] == "error"
    send(socket, "transcription_session.update", session={"input_audio_format": ["pcm16"]})
    assert recv(socket)["type"] == "error"
    send(socket, "input_audio_buffer.clear")
    assert recv(socket)["type"] == "input_audio_buffer.cleared"  # the session goes on
