"""The try-it page in a real browser: Debian's Chromium, driven headless by Playwright, against a real
server on the embedded models (`models`) or on the fake engines. Skipped, with the reason, where Chromium
or Playwright is missing; what the server writes into the page is checked without a browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf
from conftest import CLIPS, clip_path
from fakes import LOOPBACK_TLS, FakeEngines, FastServer
from wer import wer

from engines.audio.decode import decode

try:
    from playwright import sync_api as playwright_api
except ImportError:
    playwright_api = None

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER = pytest.mark.browser
"""Each browser test; the `browser` fixture skips it, saying why, where Chromium or Playwright is missing."""
MODELS = pytest.mark.models
JFK = "jfk_ask_not.flac"
SHORT = "pocketsphinx_cards_002.wav"  # 1.96 s
JOBS = "/v1/inference/audio/jobs"
SECRETS = "/oai/v1/realtime/client_secrets"


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone hears: the JFK clip, as the 16-bit WAV Chromium reads for it."""
    path = tmp_path_factory.mktemp("mic") / "jfk.wav"
    sf.write(path, decode(clip_path(JFK)), 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[Any]:
    if playwright_api is None:
        pytest.skip("playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 1400})
    context.grant_permissions(["microphone"])
    opened = context.new_page()
    opened.goto(base_url + "/")
    opened.wait_for_function("document.getElementById('s-voice').options.length > 0")
    yield opened
    context.close()


@MODELS
@BROWSER
def test_a_page_load_logs_no_console_errors(browser: Any, base_url: str) -> None:
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(base_url + "/", wait_until="networkidle")
    opened.wait_for_function("document.getElementById('s-voice').options.length > 0")
    context.close()
    # A failed request is a console error too: the page's icon, its script, its first calls to the API.
    assert errors == []


@MODELS
@BROWSER
def test_the_voice_list_says_what_each_voice_speaks_and_sounds_like(page: Any) -> None:
    labels = page.eval_on_selector_all("#s-voice option", "options => options.map(o => o.textContent)")
    assert "nova (hibari-heart) · en-us · female" in labels
    assert "onyx (en_US-joe-medium) · en-us · male" in labels
    assert "kokoro-jm_kumo · ja · male" in labels


@MODELS
@BROWSER
def test_an_uploaded_clip_shows_its_transcript(page: Any, tmp_path: Path) -> None:
    page.set_input_files("#audio-file", str(clip_path(JFK)))
    page.check("#t-words")
    page.click("#transcribe")
    page.wait_for_selector("#t-text .word", timeout=120_000)
    text = page.inner_text("#t-text")
    assert wer(CLIPS[JFK]["reference_text"], text) <= 0.2, text
    assert page.inner_text("#t-lang") == "en"
    assert float(page.inner_text("#t-duration")) == pytest.approx(11.0, abs=0.1)
    assert page.locator("#t-segments-table tbody tr").count() >= 1
    # Playing the audio highlights the word being spoken.
    page.wait_for_function("document.getElementById('t-audio').readyState >= 1")
    page.evaluate("() => { document.getElementById('t-audio').currentTime = 3.0; }")
    page.wait_for_function("document.querySelectorAll('#t-text .word.now').length === 1")
    # The README's docs/page.png is this screenshot.
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)


@MODELS
@BROWSER
def test_the_streamed_transcript_arrives_live(page: Any) -> None:
    page.set_input_files("#audio-file", str(clip_path(JFK)))
    page.select_option("#t-format", "json")
    page.check("#t-stream")
    page.click("#transcribe")
    page.wait_for_function("document.getElementById('t-text').textContent.length > 40", timeout=120_000)
    assert wer(CLIPS[JFK]["reference_text"], page.inner_text("#t-text")) <= 0.2


@MODELS
@BROWSER
def test_recording_from_the_microphone_is_transcribed(page: Any) -> None:
    socket = watch_sockets(page)
    page.click("#record")
    page.wait_for_function("document.getElementById('record-state').textContent === 'recording…'")
    page.wait_for_timeout(6000)  # the fake microphone plays the clip in real time
    page.click("#record")
    page.wait_for_function(LIVE_DONE, timeout=120_000)
    # The first turn, finished ("And so, my fellow Americans: ask not what your country …"). Whisper on a
    # busy CPU may still be reading the last when the page stops waiting: their lines stay in progress.
    first = page.locator("#t-text .line").first
    assert "fellow" in first.inner_text().lower() and "partial" not in first.get_attribute("class")
    assert socket.completed()[0] == first.inner_text()


PLAYED = "The page speaks. It plays to the end."


@pytest.fixture(scope="module")
def played_seconds(base_url: str) -> float:
    """How long PLAYED lasts, from the raw PCM of the same request."""
    body = {"model": "tts-1", "input": PLAYED, "voice": "alloy", "response_format": "pcm"}
    return len(httpx.post(f"{base_url}/v1/inference/audio/synthesize", json=body, timeout=60).content) / 48000


@MODELS
@BROWSER
@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "wav"])
def test_synthesized_speech_plays_to_the_end(page: Any, response_format: str, played_seconds: float) -> None:
    page.fill("#s-input", PLAYED)
    page.select_option("#s-format", response_format)
    page.click("#speak")
    page.wait_for_function("document.getElementById('s-audio').ended === true", timeout=60_000)
    # Chromium's own decoder finds the right length (Piper varies a little from one request to the next).
    assert page.evaluate("document.getElementById('s-audio').duration") == pytest.approx(played_seconds, rel=0.12)
    extension = {"opus": "ogg"}.get(response_format, response_format)
    assert page.get_attribute("#s-download", "download") == f"speech.{extension}"


@MODELS
@BROWSER
def test_an_empty_input_shows_the_apis_message(page: Any) -> None:
    page.fill("#s-input", "")
    assert page.inner_text("#s-count").startswith("0 / 4096")
    page.click("#speak")
    page.wait_for_selector("#s-error:not([hidden])")
    assert "'input' is empty" in page.inner_text("#s-error")


# ------------------------------------------------------------------ long recordings go as jobs (fake engines)


def test_the_page_is_told_how_long_a_recording_goes_as_a_job(
    fast_client: httpx.Client, fast_server_with: Callable[..., FastServer]
) -> None:
    page = fast_client.get("/").text
    assert 'data-job-seconds="600.0"' in page
    assert 'data-max-input="4096"' in page
    running = fast_server_with(page_job_seconds=42.5, api_keys=frozenset({"k-1"}))
    page = httpx.get(running.url + "/", verify=LOOPBACK_TLS, timeout=30).text  # the page needs no key
    assert 'data-job-seconds="42.5"' in page
    assert not re.search(r"__[A-Z_]+__", page)  # every placeholder filled


@pytest.fixture()
def fast_page(
    browser: Any, fast_server_with: Callable[..., FastServer]
) -> Iterator[Callable[..., tuple[Any, FastServer]]]:
    """The page on a fast server started with `changes` (and a key typed in, when given), and the server."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(engines: FakeEngines | None = None, key: str | None = None, **changes: Any) -> tuple[Any, FastServer]:
        running = fast_server_with(engines, **changes)
        contexts.append(browser.new_context(viewport={"width": 1100, "height": 1400}))
        contexts[-1].grant_permissions(["microphone"])
        opened = contexts[-1].new_page()
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.goto(running.url + "/")
        if key is not None:
            opened.fill("#api-key", key)
            opened.dispatch_event("#api-key", "change")
        opened.wait_for_function("document.getElementById('t-model').options.length > 0")
        return opened, running

    yield open_page
    for context in contexts:
        context.close()
    assert errors == []  # no exception escaped the page's script


def transcription_calls(page: Any) -> list[str]:
    """'METHOD path' of every call the page makes to the transcription routes, in order."""
    calls: list[str] = []

    def seen(request: Any) -> None:
        path = request.url.split("//", 1)[1].split("/", 1)[1]
        if path.startswith(("v1/inference/audio/transcribe", "v1/inference/audio/jobs")):
            calls.append(f"{request.method} /{path}")

    page.on("request", seen)
    return calls


def downloaded(page: Any, kind: str) -> str:
    with page.expect_download() as started:
        page.click(f"[data-download={kind}]")
    download = started.value
    assert download.suggested_filename == f"transcript.{kind}"
    return Path(download.path()).read_text(encoding="utf-8")


@BROWSER
def test_a_long_file_goes_as_a_job_with_its_progress_and_downloads(
    fast_page: Callable[..., tuple[Any, FastServer]],
) -> None:
    page, running = fast_page(page_job_seconds=3.0, jobs_window_s=5.0)
    calls = transcription_calls(page)
    gate = running.engines.gate
    page.set_input_files("#audio-file", str(clip_path(JFK)))
    page.wait_for_function("document.getElementById('record-state').textContent.includes('sent as a job')")
    gate.close()
    page.click("#transcribe")
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as client:
        gate.wait_for_waiting(1)
        jobs = client.get(JOBS).json()["data"]["jobs"]
        assert len(jobs) == 1
        url = f"{JOBS}/{jobs[0]['id']}"
        page.wait_for_selector("#t-job:not([hidden])")
        assert page.inner_text("#t-job-note").startswith("0:11 of audio is longer than 0:03")
        # The first window done: the bar stands part of the way, and says how far.
        gate.step_until(lambda: client.get(url).json()["data"]["progress"]["audio_seconds_done"] > 0)
        page.wait_for_function(
            "(() => { const bar = document.getElementById('t-progress');"
            " return bar.hasAttribute('value') && bar.value > 0 && bar.value < 1; })()"
        )
        assert page.inner_text("#t-job-state") == "running"
        assert page.inner_text("#t-job-done").endswith("/ 0:11")
        gate.open()
        page.wait_for_function("document.getElementById('t-job-state').textContent === 'succeeded'", timeout=30_000)
        page.wait_for_selector("#t-result:not([hidden])")
        assert page.evaluate("document.getElementById('t-progress').value") == 1
        assert page.inner_text("#t-job-done") == "0:11 / 0:11"
        assert page.is_hidden("#t-cancel")
        text = client.get(url + "/result", params={"response_format": "text"}).json()["data"]["text"]
    # FakeTranscriber: two words a second, over the windows joined.
    assert text.split()[:4] == ["alpha", "bravo.", "charlie", "delta."]
    assert page.inner_text("#t-text") == text
    assert page.locator("#t-segments-table tbody tr").count() >= 10
    assert float(page.inner_text("#t-duration")) == pytest.approx(11.0, abs=0.1)

    assert downloaded(page, "txt") == text + "\n"
    srt = downloaded(page, "srt")
    assert "-->" in srt and "alpha" in srt
    assert srt.lstrip().startswith("1\n")
    vtt = downloaded(page, "vtt")
    assert vtt.startswith("WEBVTT") and "-->" in vtt
    # Submitted once and followed; the transcript and its downloads are the job's result.
    assert calls[0] == f"POST {JOBS}"
    assert not [c for c in calls if "/transcribe" in c]
    assert {c for c in calls if "/result" in c} == {
        f"GET {url}/result?response_format={f}" for f in ("verbose_json", "text", "srt", "vtt")
    }
    assert sum(c == f"GET {url}" for c in calls) >= 2


@BROWSER
def test_a_short_file_still_goes_to_the_transcribe_route(fast_page: Callable[..., tuple[Any, FastServer]]) -> None:
    page, running = fast_page(page_job_seconds=3.0)
    calls = transcription_calls(page)
    page.set_input_files("#audio-file", str(clip_path(SHORT)))
    page.wait_for_function("document.getElementById('record-state').textContent.includes('0:02')")
    assert "job" not in page.inner_text("#record-state")
    page.click("#transcribe")
    page.wait_for_function("document.getElementById('t-text').textContent.includes('alpha bravo')")
    assert page.is_hidden("#t-job")
    assert calls == ["POST /v1/inference/audio/transcribe"]
    assert httpx.get(running.url + JOBS, verify=LOOPBACK_TLS, timeout=30).json()["data"]["jobs"] == []


@BROWSER
def test_a_job_is_cancelled_with_the_key_it_was_made_with(fast_page: Callable[..., tuple[Any, FastServer]]) -> None:
    page, running = fast_page(key="k-1", api_keys=frozenset({"k-1"}), page_job_seconds=3.0)
    gate = running.engines.gate
    page.set_input_files("#audio-file", str(clip_path(JFK)))
    gate.close()
    page.click("#transcribe")
    gate.wait_for_waiting(1)
    page.wait_for_function("['queued', 'running'].includes(document.getElementById('t-job-state').textContent)")
    assert page.is_disabled("#transcribe")
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as client:
        mine = {"Authorization": "Bearer k-1"}
        assert len(client.get(JOBS, headers=mine).json()["data"]["jobs"]) == 1
        page.click("#t-cancel")
        page.wait_for_function("document.getElementById('t-job-state').textContent === 'cancelled'")
        assert client.get(JOBS, headers=mine).json()["data"]["jobs"] == []
    gate.open()
    page.wait_for_function("!document.getElementById('transcribe').disabled")
    assert page.is_hidden("#t-cancel")
    assert page.is_hidden("#t-result")
    assert page.is_hidden("#t-error")


@BROWSER
def test_a_failed_job_shows_why(fast_page: Callable[..., tuple[Any, FastServer]]) -> None:
    page, _ = fast_page(FakeEngines(failing=True), page_job_seconds=3.0)
    page.set_input_files("#audio-file", str(clip_path(JFK)))
    page.wait_for_function("document.getElementById('record-state').textContent.includes('sent as a job')")
    page.click("#transcribe")
    page.wait_for_selector("#t-error:not([hidden])", timeout=30_000)
    assert page.inner_text("#t-error").startswith("The job failed: The job stopped on an unexpected error")
    assert page.inner_text("#t-job-state") == "failed"
    assert page.is_hidden("#t-result")


@BROWSER
def test_a_long_recording_goes_as_a_job(fast_page: Callable[..., tuple[Any, FastServer]]) -> None:
    # A server from before live transcription: no key to mint, so the page records and uploads as it did.
    page, _ = fast_page(page_job_seconds=3.0)
    page.route(f"**{SECRETS}", lambda route: route.fulfill(status=404, json={"detail": "Not Found"}))
    socket = watch_sockets(page)
    calls = transcription_calls(page)
    page.click("#record")
    page.wait_for_function(f"document.getElementById('record-state').textContent.startsWith({UNAVAILABLE!r})")
    assert "does not offer it" in page.inner_text("#record-state")
    page.wait_for_timeout(4000)  # the fake microphone plays the clip in real time
    page.click("#record")
    page.wait_for_function("document.getElementById('t-job-state').textContent === 'succeeded'", timeout=30_000)
    page.wait_for_function("document.getElementById('t-text').textContent.includes('alpha bravo')")
    assert "sent as a job" in page.inner_text("#record-state")
    assert calls[0] == f"POST {JOBS}"
    assert socket.urls == []
    assert page.is_hidden("#t-error")


# ------------------------------------------------------------------ live transcription (fake engines)

LIVE_DONE = "document.getElementById('record-state').textContent.includes('transcribed live')"
UNAVAILABLE = "recording… (live transcription is unavailable"
COMPLETED = "conversation.item.input_audio_transcription.completed"


class Sockets:
    """The WebSockets a page opens, and the events that go each way on them."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []

    def opened(self, socket: Any) -> None:
        self.urls.append(socket.url)
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def kinds(self) -> list[str]:
        return [event["type"] for event in self.received]

    def completed(self) -> list[str]:
        """The transcript of every turn, in the order the server finished them."""
        return [event["transcript"] for event in self.received if event["type"] == COMPLETED]


def watch_sockets(page: Any) -> Sockets:
    sockets = Sockets()
    page.on("websocket", sockets.opened)
    return sockets


WATCH_PARTIALS = """() => {
  // Every line still in progress that shows words, while the recording goes on.
  window.partials = [];
  new MutationObserver(() => {
    const recording = document.getElementById('record').textContent === 'Stop';
    for (const line of document.querySelectorAll('#t-text .line.partial')) {
      if (line.textContent && recording) window.partials.push(line.textContent);
    }
  }).observe(document.getElementById('t-text'), { childList: true, subtree: true, characterData: true });
}"""


@BROWSER
def test_a_recording_is_transcribed_live_and_its_words_firm_up_as_they_come(
    fast_page: Callable[..., tuple[Any, FastServer]],
) -> None:
    page, _ = fast_page()
    socket = watch_sockets(page)
    calls = transcription_calls(page)
    page.evaluate(WATCH_PARTIALS)
    page.click("#record")
    page.wait_for_function("document.getElementById('record-state').textContent === 'recording…'")
    assert page.inner_text("#record") == "Stop"
    # While the person still speaks: the words two readings agree on, in a line marked as in progress;
    # then a turn's line done, the fake engine's transcript of it.
    page.wait_for_function("window.partials.length > 0", timeout=15_000)
    page.wait_for_selector("#t-text .line:not(.partial)", timeout=15_000)
    page.wait_for_selector("#t-text .line:nth-child(2)", timeout=15_000)  # the next turn begun: stop in it
    page.click("#record")
    page.wait_for_function(LIVE_DONE, timeout=15_000)

    assert socket.urls == [page.url.replace("http://", "ws://").rstrip("/") + "/oai/v1/realtime?intent=transcription"]
    update = socket.sent[0]
    assert update["type"] == "session.update"
    assert update["session"]["audio"]["input"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": {"model": "whisper-1"},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
    }
    appended = [event for event in socket.sent[1:] if event["type"] == "input_audio_buffer.append"]
    audio = b"".join(base64.b64decode(event["audio"]) for event in appended)
    # Every ~100 ms, 24 kHz 16-bit PCM: as long as the recording the page kept (at 16 kHz).
    assert len(appended) >= 10
    assert len(audio) / 48000 == pytest.approx(float(page.inner_text("#t-duration")), abs=0.05)
    kinds = socket.kinds()
    assert kinds[:2] == ["session.created", "session.updated"]
    assert "conversation.item.input_audio_transcription.delta" in kinds
    # Each turn begun was finished before the page closed the socket: the one Stop ended was committed.
    started = [event["item_id"] for event in socket.received if event["type"] == "input_audio_buffer.speech_started"]
    assert len(started) >= 2
    assert socket.sent[-1] == {"type": "input_audio_buffer.commit"}
    assert set(started) <= {event["item_id"] for event in socket.received if event["type"] == COMPLETED}
    transcripts = [t for t in socket.completed() if t]
    assert transcripts and all(t.startswith("alpha bravo.") for t in transcripts)
    assert "input_audio_buffer_commit_empty" not in json.dumps(socket.received)  # no empty commit at the end
    # Partial words seen in a line before its turn was done; every line now the turn's final transcript.
    partials = page.evaluate("window.partials")
    assert partials[0].startswith("alpha bravo.")
    assert page.locator("#t-text .line.partial").count() == 0
    assert page.locator("#t-text .line").all_inner_texts() == transcripts
    assert page.is_hidden("#t-error")
    # Nothing was uploaded; the recording is kept, to play, download or transcribe again.
    assert calls == []
    assert re.fullmatch(r"recording\.wav \(\d+ KB, 0:0\d, transcribed live\)", page.inner_text("#record-state"))
    assert page.get_attribute("#t-audio", "src").startswith("blob:")
    assert downloaded(page, "txt") == "\n".join(transcripts) + "\n"
    assert page.is_enabled("#transcribe") and page.inner_text("#record") == "Record from the microphone"


OFFERED = """() => {
  // The subprotocols each WebSocket the page makes offers.
  window.offered = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) { super(url, protocols); window.offered.push(protocols); }
  };
}"""


@BROWSER
def test_with_keys_the_pages_key_mints_a_short_lived_one_that_opens_the_session(
    fast_page: Callable[..., tuple[Any, FastServer]],
) -> None:
    page, _ = fast_page(key="page-key-1", api_keys=frozenset({"page-key-1"}))
    socket = watch_sockets(page)
    page.evaluate(OFFERED)
    with page.expect_request(f"**{SECRETS}") as minting:
        page.click("#record")
    request = minting.value
    assert request.method == "POST" and request.headers["authorization"] == "Bearer page-key-1"
    body = request.post_data_json
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 600}
    assert body["session"]["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    page.wait_for_function("document.getElementById('record-state').textContent === 'recording…'")
    # The socket carries the ek_ key, never the page's own.
    [offered] = page.evaluate("window.offered")
    assert len(offered) == 2 and offered[0] == "realtime"
    assert offered[1].startswith("openai-insecure-api-key.ek_") and "page-key-1" not in offered[1]
    assert socket.kinds()[:2] == ["session.created", "session.updated"]
    page.click("#record")
    page.wait_for_function(LIVE_DONE, timeout=15_000)
    assert page.is_hidden("#t-error")


@BROWSER
def test_where_the_socket_fails_the_recording_is_uploaded(fast_page: Callable[..., tuple[Any, FastServer]]) -> None:
    page, _ = fast_page()
    page.route_web_socket("**/oai/v1/realtime*", lambda socket: socket.close(code=1011, reason="gone"))
    calls = transcription_calls(page)
    page.click("#record")
    page.wait_for_function(f"document.getElementById('record-state').textContent.startsWith({UNAVAILABLE!r})")
    assert "the connection closed (1011)" in page.inner_text("#record-state")
    assert page.inner_text("#record") == "Stop and transcribe"
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_function("document.getElementById('t-text').textContent.includes('alpha bravo')")
    assert calls == ["POST /v1/inference/audio/transcribe"]
    assert "recording.webm" in page.inner_text("#record-state")
