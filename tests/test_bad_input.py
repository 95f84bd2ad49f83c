"""The bad-input catalogue, on both surfaces: every case is refused with a 4xx in the surface's envelope
(or, where the input is unusual but valid, served), never a 5xx or a hang, and the server keeps serving.

Fast layer: fake engines, real decoding and parsing. What only the real phonemizer can show (control
characters, lone surrogates, scripts an English voice cannot read) is in the `models` part at the end.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
from audio_tools import convert
from conftest import clip_path, fast_settings
from fakes import LOOPBACK_TLS, FastServer, start_fast_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SURFACES = {
    "native": ("/v1/inference/audio/transcribe", "/v1/inference/audio/synthesize"),
    "openai": ("/oai/v1/audio/transcriptions", "/oai/v1/audio/speech"),
}
JFK = "jfk_ask_not.flac"
SHORT = "pocketsphinx_cards_002.wav"  # 2 s at 16 kHz: cheap to decode, for cases about other fields


def error_code(response: httpx.Response, surface: str) -> str:
    """The error's code, after checking the surface's envelope."""
    assert "Traceback" not in response.text
    body = response.json()
    error = body["error"]
    if surface == "native":
        assert body["status"] == "error", body
        assert set(error) == {"code", "message", "param"}, body
    else:
        assert set(body) == {"error"} and set(error) == {"message", "type", "param", "code"}, body
    assert error["message"] and len(error["message"]) < 1000, error
    return str(error["code"])


def assert_refused(response: httpx.Response, surface: str, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert error_code(response, surface) == code


def still_serving(client: httpx.Client) -> None:
    assert client.get("/health").status_code == 200


@pytest.fixture(params=list(SURFACES))
def surface(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ------------------------------------------------------------------ audio inputs


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono


def _enormous_wav_header() -> bytes:
    # Sizes as a streaming recorder writes them (or a liar): the data chunk claims 4 GB.
    data = bytearray(_wav(_tone(2.0, 16000), 16000))
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def _two_audio_streams() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as out:
        streams = [out.add_stream("pcm_s16le", rate=16000, layout="mono") for _ in range(2)]
        for index, stream in enumerate(streams):
            frame = av.AudioFrame.from_ndarray(
                (_tone(2.0, 16000) * 32767 * (index + 1) / 2).astype(np.int16).reshape(1, -1),
                format="s16",
                layout="mono",
            )
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("encoded")
    source = clip_path(JFK)
    return {
        "mp3": convert(source, folder / "a.mp3", "mp3", "libmp3lame", 16000).read_bytes(),
        "flac": source.read_bytes(),
        "ogg": convert(source, folder / "a.ogg", "ogg", "libopus", 48000).read_bytes(),
    }


def _truncated(kind: str, share: float) -> Callable[[dict[str, bytes]], bytes]:
    return lambda encoded: encoded[kind][: int(len(encoded[kind]) * share)]


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# name, (file name, bytes), and the answer: a status and, for a refusal, the error code.
AUDIO_CASES: list[tuple[str, str, Callable[[dict[str, bytes]], bytes], int, str | None]] = [
    ("empty", "a.wav", lambda _: b"", 400, "empty_file"),
    ("one byte", "a.mp3", lambda _: b"\x00", 415, "unsupported_audio"),
    ("random bytes", "a.mp3", lambda _: np.random.default_rng(7).bytes(64 * 1024), 415, "unsupported_audio"),
    ("text named .wav", "notes.wav", lambda _: b"Meeting notes, not audio at all.\n" * 100, 415, "unsupported_audio"),
    ("mp3 cut at 10 %", "a.mp3", _truncated("mp3", 0.1), 200, None),
    ("mp3 cut at 50 %", "a.mp3", _truncated("mp3", 0.5), 200, None),
    ("flac cut at 10 %", "a.flac", _truncated("flac", 0.1), 200, None),
    ("flac cut at 50 %", "a.flac", _truncated("flac", 0.5), 200, None),
    # Ogg is read from both ends to find its length: cut this short, it cannot even be opened.
    ("ogg cut at 10 %", "a.ogg", _truncated("ogg", 0.1), 415, "unsupported_audio"),
    ("ogg cut at 50 %", "a.ogg", _truncated("ogg", 0.5), 200, None),
    ("wav header claiming 4 GB", "a.wav", lambda _: _enormous_wav_header(), 200, None),
    ("image with no audio stream", "a.png", lambda _: PNG, 415, "unsupported_audio"),
    ("two audio streams", "a.mkv", lambda _: _two_audio_streams(), 200, None),
    ("8 channels at 192 kHz", "a.wav", lambda _: _wav(_tone(0.5, 192000, channels=8), 192000), 200, None),
    ("8 kHz", "a.wav", lambda _: _wav(_tone(2.0, 8000), 8000), 200, None),
]


@pytest.mark.parametrize(
    ("filename", "make", "status", "code"),
    [case[1:] for case in AUDIO_CASES],
    ids=[case[0] for case in AUDIO_CASES],
)
def test_audio_inputs(
    fast_client: httpx.Client,
    encoded: dict[str, bytes],
    surface: str,
    filename: str,
    make: Callable[[dict[str, bytes]], bytes],
    status: int,
    code: str | None,
) -> None:
    url = SURFACES[surface][0]
    response = fast_client.post(url, data={"model": "whisper-1"}, files={"file": (filename, make(encoded))})
    if code is None:
        assert response.status_code == status, response.text[:500]
        assert response.json()["text" if surface == "openai" else "data"]
    else:
        assert_refused(response, surface, status, code)
    still_serving(fast_client)


def _silent_flac(seconds: float, streamed: bool) -> bytes:
    """Silence compresses to almost nothing: ten minutes is a few KB. `streamed` clears the total
    length in STREAMINFO, as an encoder writing to a pipe does, so only decoding can tell the length."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(int(seconds * 8000), dtype=np.float32), 8000, format="FLAC")
    data = bytearray(buffer.getvalue())
    if streamed:
        # STREAMINFO starts at byte 8; its total-samples field is the low 36 bits of bytes 21..25.
        data[21] &= 0xF0
        data[22:26] = b"\0\0\0\0"
    return bytes(data)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastServer]:
    """Small limits, so that the cases about them stay small: one minute of audio, 256 KB uploads."""
    settings = fast_settings(tmp_path_factory.mktemp("limited"), max_audio_seconds=60.0, max_upload_bytes=256 * 1024)
    running = start_fast_server(settings)
    yield running
    running.stop()


@pytest.mark.parametrize("streamed", [False, True], ids=["length in header", "no length in header"])
def test_a_tiny_file_that_decodes_to_hours_is_refused(limited: FastServer, surface: str, streamed: bool) -> None:
    # Ten minutes against a one-minute limit stands in for hours against the default four.
    tiny = _silent_flac(600, streamed)
    assert len(tiny) < 64 * 1024
    with httpx.Client(verify=LOOPBACK_TLS, base_url=limited.url, timeout=30) as c:
        response = c.post(SURFACES[surface][0], data={"model": "whisper-1"}, files={"file": ("a.flac", tiny)})
        assert_refused(response, surface, 400, "audio_too_long")
        assert "60 s" in response.json()["error"]["message"]
        still_serving(c)


def test_an_upload_over_the_limit_is_413(limited: FastServer, surface: str) -> None:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=limited.url, timeout=30) as c:
        big = np.random.default_rng(1).bytes(2 * 1024 * 1024)
        response = c.post(SURFACES[surface][0], data={"model": "whisper-1"}, files={"file": ("a.wav", big)})
        assert_refused(response, surface, 413, "file_too_large")
        still_serving(c)


# ------------------------------------------------------------------ model names and form fields

LONG = "m" * 10_000

FIELD_CASES: list[tuple[str, dict[str, str], int, str]] = [
    ("path traversal", {"model": "../../etc/passwd"}, 404, "model_not_found"),
    ("NUL in the name", {"model": "whisper-1\x00"}, 404, "model_not_found"),
    ("percent-encoded NUL", {"model": "whisper%00"}, 404, "model_not_found"),
    ("10 KB name", {"model": LONG}, 404, "model_not_found"),
    ("non-ASCII name", {"model": "wíspér-①"}, 404, "model_not_found"),
    ("unknown response_format", {"response_format": "docx"}, 400, "invalid_value"),
    (
        "garbage granularities",
        {"response_format": "verbose_json", "timestamp_granularities[]": "[[}"},
        400,
        "invalid_value",
    ),
    (
        "granularity not known",
        {"response_format": "verbose_json", "timestamp_granularities": "letter"},
        400,
        "invalid_value",
    ),
    ("temperature abc", {"temperature": "abc"}, 400, "invalid_value"),
    ("temperature -1", {"temperature": "-1"}, 400, "invalid_value"),
    ("temperature 5", {"temperature": "5"}, 400, "invalid_value"),
    ("temperature NaN", {"temperature": "NaN"}, 400, "invalid_value"),
    ("language xx", {"language": "xx"}, 400, "invalid_value"),
    ("language of 100 characters", {"language": "e" * 100}, 400, "invalid_value"),
    ("100 KB prompt", {"prompt": "word " * 20_000}, 400, "prompt_too_long"),
]


@pytest.mark.parametrize(
    ("fields", "status", "code"), [case[1:] for case in FIELD_CASES], ids=[case[0] for case in FIELD_CASES]
)
def test_transcription_fields(
    fast_client: httpx.Client, surface: str, fields: dict[str, str], status: int, code: str
) -> None:
    data = {"model": "whisper-1", **fields}
    response = fast_client.post(
        SURFACES[surface][0], data=data, files={"file": ("a.wav", clip_path(SHORT).read_bytes())}
    )
    assert_refused(response, surface, status, code)
    assert LONG not in response.text  # a huge value is never echoed back whole
    still_serving(fast_client)


def test_an_empty_language_means_detect_it(fast_client: httpx.Client, surface: str) -> None:
    data = {"model": "whisper-1", "language": "", "response_format": "json"}
    response = fast_client.post(
        SURFACES[surface][0], data=data, files={"file": ("a.wav", clip_path(SHORT).read_bytes())}
    )
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------ synthesis bodies

GOOD = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "pcm"}

SPEECH_CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("empty input", {"input": ""}, 400, "empty_input"),
    ("whitespace input", {"input": " \n\t  "}, 400, "empty_input"),
    ("4097 characters", {"input": "a" * 4097}, 400, "input_too_long"),
    ("unknown voice", {"voice": "dracula"}, 400, "voice_not_found"),
    ("voice id that is a number", {"voice": {"id": 5}}, 400, "invalid_value"),
    ("voice null", {"voice": None}, 400, "missing_field"),
    ("speed 0", {"speed": 0}, 400, "speed_out_of_range"),
    ("speed 0.24", {"speed": 0.24}, 400, "speed_out_of_range"),
    ("speed 4.01", {"speed": 4.01}, 400, "speed_out_of_range"),
    ("speed fast", {"speed": "fast"}, 400, "invalid_value"),
    ("speed 1e308", {"speed": 1e308}, 400, "speed_out_of_range"),
    ("unknown format", {"response_format": "midi"}, 400, "invalid_value"),
    ("model path traversal", {"model": "../../etc/passwd"}, 404, "model_not_found"),
]


@pytest.mark.parametrize(
    ("change", "status", "code"), [case[1:] for case in SPEECH_CASES], ids=[case[0] for case in SPEECH_CASES]
)
def test_synthesis_fields(
    fast_client: httpx.Client, surface: str, change: dict[str, Any], status: int, code: str
) -> None:
    response = fast_client.post(SURFACES[surface][1], json={**GOOD, **change})
    assert_refused(response, surface, status, code)
    still_serving(fast_client)


RAW_BODIES: list[tuple[str, bytes, str, int, str]] = [
    (
        "speed NaN",
        b'{"model": "tts-1", "input": "Hi.", "voice": "alloy", "speed": NaN}',
        "application/json",
        400,
        "invalid_value",
    ),
    ("an array", b'[{"model": "tts-1"}]', "application/json", 400, "invalid_json"),
    ("depth 10,000", b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "invalid_json"),
    ("10 MB", b'{"input": "' + b"a" * (10 * 1024 * 1024) + b'"}', "application/json", 413, "body_too_large"),
    ("not JSON", b"{model: tts-1", "application/json", 400, "invalid_json"),
    ("bytes that are not UTF-8", b'{"input": "\xff\xfe"}', "application/json", 400, "invalid_json"),
    ("wrong content type", json.dumps(GOOD).encode(), "text/plain", 400, "invalid_content_type"),
    ("no content type", json.dumps(GOOD).encode(), "", 400, "invalid_content_type"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"), [case[1:] for case in RAW_BODIES], ids=[case[0] for case in RAW_BODIES]
)
def test_synthesis_bodies(
    fast_client: httpx.Client, surface: str, body: bytes, content_type: str, status: int, code: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = fast_client.post(SURFACES[surface][1], content=body, headers=headers)
    assert_refused(response, surface, status, code)
    still_serving(fast_client)


# ------------------------------------------------------------------ multipart and methods


def _many_fields(count: int) -> Iterator[bytes]:
    yield b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
    for index in range(count):
        yield f'--b\r\nContent-Disposition: form-data; name="f{index}"\r\n\r\nx\r\n'.encode()
    yield b"--b--\r\n"


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"--b\r\n\r\n", "multipart/form-data", "invalid_multipart"),
        (b"".join(_many_fields(10_000)), "multipart/form-data; boundary=b", "invalid_multipart"),
        (b"garbage with no parts", "multipart/form-data; boundary=b", "invalid_multipart"),
    ],
    ids=["no boundary", "10,000 fields", "no parts"],
)
def test_multipart_bodies(fast_client: httpx.Client, surface: str, body: bytes, content_type: str, code: str) -> None:
    response = fast_client.post(SURFACES[surface][0], content=body, headers={"content-type": content_type})
    assert_refused(response, surface, 400, code)
    still_serving(fast_client)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_methods(fast_client: httpx.Client, surface: str, method: str) -> None:
    for url in SURFACES[surface]:
        response = fast_client.request(method, url)
        assert_refused(response, surface, 405, "method_not_allowed")
        assert "POST" in response.headers["allow"]


# ------------------------------------------------------------------ text only the real phonemizer can judge

# What an English voice does with each: control characters and lone surrogates are removed before
# espeak-ng sees them (NUL stopped it with "embedded null character"); emoji are left out (read by
# name when asked); Hebrew, Arabic and Chinese letters are read as letter names ("Chinese letter"),
# which is espeak's English voice, not an error; SSML-looking tags are removed, <break> as a pause.
SPOKEN_TEXT = {
    "control characters": "\u0000\u001b hi \u0007there\u007f.",
    "a lone surrogate": "a \ud800 b",
    "right-to-left controls": "\u202eHello there, world\u202c",
    "SSML-looking tags": "<speak>Hello <break time='1s'/> world</speak>",
}
UNREADABLE_TEXT = {
    # Kanji alone could be Japanese: the Japanese voices are named.
    "Chinese to an English voice": ("你好，世界。", "voice", "kokoro-jf_alpha"),
    # Hebrew and Arabic together: no voice here reads either.
    "right-to-left text": ("\u202eשלום עולם, مرحبا بالعالم\u202c", "input", "no voice installed here"),
}


@pytest.mark.models
@pytest.mark.parametrize("text", SPOKEN_TEXT.values(), ids=SPOKEN_TEXT.keys())
def test_odd_text_is_spoken(client: httpx.Client, surface: str, text: str) -> None:
    # As JSON escapes, the way a client sends a lone surrogate (it cannot be encoded as UTF-8).
    body = json.dumps({**GOOD, "input": text}).encode()
    response = client.post(SURFACES[surface][1], content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:500]
    assert len(response.content) > 2400  # at least 50 ms of 24 kHz 16-bit audio
    still_serving(client)


@pytest.mark.models
@pytest.mark.parametrize("case", UNREADABLE_TEXT.values(), ids=UNREADABLE_TEXT.keys())
def test_text_the_voice_cannot_read_is_400_never_spelled_out(
    client: httpx.Client, surface: str, case: tuple[str, str, str]
) -> None:
    text, param, named = case
    body = json.dumps({**GOOD, "input": text}).encode()
    response = client.post(SURFACES[surface][1], content=body, headers={"content-type": "application/json"})
    assert_refused(response, surface, 400, "unsupported_language")
    assert response.json()["error"]["param"] == param and named in response.json()["error"]["message"]


@pytest.mark.models
@pytest.mark.parametrize("text", ["\u200f\u200e\u0000\ud800", "😀🎉"], ids=["invisible", "only emoji"])
def test_text_with_nothing_speakable_is_400(client: httpx.Client, surface: str, text: str) -> None:
    body = json.dumps({**GOOD, "input": text}).encode()
    response = client.post(SURFACES[surface][1], content=body, headers={"content-type": "application/json"})
    assert_refused(response, surface, 400, "empty_input")


@pytest.mark.models
def test_emoji_are_read_by_name_when_asked(client: httpx.Client, surface: str) -> None:
    response = client.post(SURFACES[surface][1], json={**GOOD, "input": "😀🎉", "read_emoji": True})
    assert response.status_code == 200 and len(response.content) > 24000  # "grinning face party popper"


@pytest.mark.models
@pytest.mark.parametrize("surface_name", list(SURFACES))
def test_arbitrary_unicode_never_gives_a_5xx(client: httpx.Client, surface_name: str) -> None:
    # Any code point at all, lone surrogates and unassigned ones included, sent as JSON escapes.
    url = SURFACES[surface_name][1]
    alphabet = st.characters(exclude_categories=[]) | st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e"])

    @given(text=st.text(alphabet=alphabet, min_size=1, max_size=40))
    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def speak(text: str) -> None:
        body = json.dumps({**GOOD, "input": text}).encode()
        response = client.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code in (200, 400), (text, response.text[:300])
        if response.status_code == 400:
            # Nothing to say, or letters of a script no installed voice of the request's can read.
            assert error_code(response, surface_name) in ("empty_input", "unsupported_language")

    speak()
