"""Honest listings and voice names that follow the installed voices (fast layer: fake engines)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import OPENAI_VOICES, clip_path, fast_settings, write_registry
from fakes import LOOPBACK_TLS, FakeEngines, FastServer

from server import models_cli

JAPANESE = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
EMBEDDED_VOICES = {"en_US-joe-medium", "hibari-heart", *(f"kokoro-{style}" for style in JAPANESE)}
CARDS = ("cards.wav", clip_path("pocketsphinx_cards_002.wav").read_bytes())


def voices(client: httpx.Client) -> dict[str, tuple[str, int | None]]:
    body = client.get("/oai/v1/audio/voices").json()
    return {v["id"]: (v["voice"], v["speaker_id"]) for v in body["voices"]}


def test_openai_listings_hold_only_what_can_be_used(fast_client: httpx.Client) -> None:
    ids = {m["id"] for m in fast_client.get("/oai/v1/models").json()["data"]}
    assert {"whisper-1", "openai/whisper-1", "tiny.en", "tts-1"} <= ids
    # whisper-small is in models.toml but was never pulled here.
    assert not {"whisper-small", "systran/faster-whisper-small"} & ids
    missing = fast_client.get("/oai/v1/models/whisper-small")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_installed"
    assert fast_client.get("/oai/v1/models/whisper-1").status_code == 200
    assert set(voices(fast_client)) == {*OPENAI_VOICES, *EMBEDDED_VOICES}


def test_using_a_model_that_is_not_installed_says_how_to_install_it(fast_client: httpx.Client) -> None:
    for url, envelope in (("/v1/inference/audio/transcribe", "native"), ("/oai/v1/audio/transcriptions", "openai")):
        response = fast_client.post(url, data={"model": "whisper-small"}, files={"file": CARDS})
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "model_not_installed" and "models pull" in error["message"]
        assert (response.json().get("status") == "error") == (envelope == "native")


def test_the_native_listing_shows_every_entry_with_its_state(fast_client: httpx.Client) -> None:
    body = fast_client.get("/v1/models").json()
    assert body["status"] == "ok"
    models = {m["id"]: m for m in body["data"]}
    assert models["systran/faster-whisper-small"]["state"] == "not downloaded"
    assert models["openai/whisper-1"]["state"] == "installed"
    assert models["openai/whisper-1"]["loaded"] is True  # preloaded
    nova = {"voice": "hibari-heart", "speaker_id": None, "language": "en-us", "gender": "female"}
    assert models["openai/tts-1"]["voices"]["nova"] == nova
    one = fast_client.get("/v1/models/tiny.en").json()
    assert one["data"]["id"] == "local/whisper-tiny.en" and one["data"]["aliases"] == ["whisper-tiny.en", "tiny.en"]
    assert fast_client.get("/v1/models/nope").json()["error"]["code"] == "model_not_found"


def _with_voices(*names: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        for name in names:
            document["voices"][name] = {"source": {"path": f"voices/{name}"}}

    return change


def test_voice_names_move_to_the_voices_installed(fast_server_with: Callable[..., FastServer], tmp_path: Path) -> None:
    registry = write_registry(tmp_path, _with_voices("en_US-amy-medium", "en_US-ryan-medium"))
    running = fast_server_with(models_path=registry)
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        mapped = voices(c)
        assert mapped["nova"] == mapped["alloy"] == ("en_US-amy-medium", None)  # alloy's first two are absent
        assert mapped["onyx"] == mapped["fable"] == ("en_US-ryan-medium", None)
        assert mapped["shimmer"] == ("hibari-heart", None)  # none of its voices is here
        body = {"model": "tts-1", "input": "Hello there.", "voice": "nova", "response_format": "pcm"}
        assert c.post("/v1/inference/audio/synthesize", json=body).status_code == 200
        assert "en_US-amy-medium" in running.engines.loads


def test_a_voice_name_maps_to_one_speaker_without_toml(
    fast_server_with: Callable[..., FastServer], tmp_path: Path
) -> None:
    registry = write_registry(tmp_path, _with_voices("en_US-libritts_r-medium"))
    settings = fast_settings(tmp_path, models_path=registry)
    mapped = argparse.Namespace(verb="map", name="nova", voice="en_US-libritts_r-medium", speaker=12)
    assert models_cli.run(mapped, settings) == 0
    engines = FakeEngines(speakers={"en_US-libritts_r-medium": 20})
    running = fast_server_with(engines=engines, models_path=registry)
    with httpx.Client(verify=LOOPBACK_TLS, base_url=running.url, timeout=30) as c:
        assert voices(c)["nova"] == ("en_US-libritts_r-medium", 12)
        body = {"model": "tts-1", "input": "Hello there.", "voice": "nova", "response_format": "pcm"}
        assert c.post("/oai/v1/audio/speech", json=body).status_code == 200
    unknown = argparse.Namespace(verb="map", name="nova", voice="en_US-nobody-medium", speaker=None)
    assert models_cli.run(unknown, settings) == 1
