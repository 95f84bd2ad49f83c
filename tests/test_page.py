"""The try-it page in a real browser: Debian's Chromium, driven headless by Playwright, against a real
server on the embedded models (`models`) or on the fake engines. Skipped, with the reason, where Chromium
or Playwright is missing; what the server writes into the page is checked without a browser."""

from __future__ import annotations

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
    page.click("#record")
    page.wait_for_function("document.getElementById('record-state').textContent === 'recording…'")
    page.wait_for_timeout(6000)  # the fake microphone plays the clip in real time
    page.click("#record")
    page.wait_for_function("document.getElementById('t-text').textContent.trim().length > 10", timeout=120_000)
    assert "recording" in page.inner_text("#record-state")


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
    page, _ = fast_page(page_job_seconds=3.0)
    calls = transcription_calls(page)
    page.click("#record")
    page.wait_for_function("document.getElementById('record-state').textContent === 'recording…'")
    page.wait_for_timeout(4000)  # the fake microphone plays the clip in real time
    page.click("#record")
    page.wait_for_function("document.getElementById('t-job-state').textContent === 'succeeded'", timeout=30_000)
    page.wait_for_function("document.getElementById('t-text').textContent.includes('alpha bravo')")
    assert "sent as a job" in page.inner_text("#record-state")
    assert calls[0] == f"POST {JOBS}"
