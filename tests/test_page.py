"""The try-it page in a real browser: Debian's Chromium, driven headless by Playwright, against a real
server on the embedded models. Skipped, with the reason, where Chromium or Playwright is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf
from conftest import CLIPS, clip_path
from wer import wer

from engines.audio.decode import decode

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.models,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"),
]
JFK = "jfk_ask_not.flac"


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone hears: the JFK clip, as the 16-bit WAV Chromium reads for it."""
    path = tmp_path_factory.mktemp("mic") / "jfk.wav"
    sf.write(path, decode(clip_path(JFK)), 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[Any]:
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


def test_the_streamed_transcript_arrives_live(page: Any) -> None:
    page.set_input_files("#audio-file", str(clip_path(JFK)))
    page.select_option("#t-format", "json")
    page.check("#t-stream")
    page.click("#transcribe")
    page.wait_for_function("document.getElementById('t-text').textContent.length > 40", timeout=120_000)
    assert wer(CLIPS[JFK]["reference_text"], page.inner_text("#t-text")) <= 0.2


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


def test_an_empty_input_shows_the_apis_message(page: Any) -> None:
    page.fill("#s-input", "")
    assert page.inner_text("#s-count").startswith("0 / 4096")
    page.click("#speak")
    page.wait_for_selector("#s-error:not([hidden])")
    assert "'input' is empty" in page.inner_text("#s-error")
