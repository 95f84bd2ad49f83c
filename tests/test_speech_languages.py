"""A request's language on the HTTP surfaces (fast layer): a name moved to a voice that speaks it, or a 400 that
names the voices that can; never a voice spelling out letters it cannot read."""

from __future__ import annotations

import httpx
from fakes import FastServer

JAPANESE = "今日はいい天気ですね。"


def speech(client: httpx.Client, url: str = "/v1/inference/audio/synthesize", **fields: object) -> httpx.Response:
    body = {"model": "tts-1", "input": JAPANESE, "voice": "nova", "response_format": "pcm", **fields}
    return client.post(url, json=body)


def test_text_the_voice_cannot_read_is_refused_with_the_voices_that_can(fast_client: httpx.Client) -> None:
    for url in ("/v1/inference/audio/synthesize", "/oai/v1/audio/speech"):
        refused = speech(fast_client, url)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["param"]) == ("unsupported_language", "voice")
        assert '"language": "ja"' in error["message"] and "kokoro-jm_kumo" in error["message"]


def test_asking_for_the_language_moves_the_name_to_a_voice_of_it(fast: FastServer, fast_client: httpx.Client) -> None:
    assert speech(fast_client, language="ja").status_code == 200
    assert speech(fast_client, "/oai/v1/audio/speech", voice="onyx", language="ja").status_code == 200
    assert {"kokoro-jf_alpha", "kokoro-jm_kumo"} <= set(fast.engines.loads)


def test_a_voice_of_the_language_speaks_it_and_a_bad_language_is_named(fast_client: httpx.Client) -> None:
    assert speech(fast_client, voice="kokoro-jf_nezumi").status_code == 200
    assert speech(fast_client, input="Hello there.").status_code == 200
    unknown = speech(fast_client, language="xx")
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "language"
    wrong = speech(fast_client, language=7)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_value"
