"""Which voice speaks a request's language, decided before any audio: pure, on the shipped registry."""

from __future__ import annotations

import pytest

from engines.models.inventory import Installed
from engines.models.registry_files import load_registry
from engines.text.scripts import readers, reads, written_in
from server.config import PROJECT_ROOT
from server.core.languages import for_language
from server.core.served import Served
from server.errors import ApiError

REGISTRY = load_registry(PROJECT_ROOT / "models.toml")
JAPANESE = "今日はいい天気ですね。"


def served(*absent: str) -> Served:
    voices = frozenset(name for name in REGISTRY.voices if name not in absent)
    return Served(REGISTRY, Installed(models=frozenset(REGISTRY.models), voices=voices))


def route(name: str, text: str, language: str | None = None, *absent: str) -> str:
    here = served(*absent)
    mapping = here.voice(name)
    assert mapping is not None
    return for_language(here, mapping, name, text, language).voice


def test_scripts_say_which_languages_can_read_a_text() -> None:
    assert readers("Hello, café déjà vu! 123 ＡＢＣ") is None  # Latin letters: any voice tries them
    assert readers("こんにちは") == frozenset({"ja"}) and readers("東京") == frozenset({"ja", "zh"})
    assert readers("東京タワー") == readers("ｶﾀｶﾅ") == frozenset({"ja"}) and readers("안녕 こんにちは") == frozenset()
    assert reads("ja", "東京") and not reads("en-us", "東京") and reads("en-us", "Tokyo")
    assert written_in(JAPANESE) == "Japanese" and written_in("東京") == "Japanese or Chinese"


def test_a_voice_that_reads_the_text_keeps_it() -> None:
    assert route("nova", "Hello there.") == "hibari-heart"
    assert route("kokoro-jf_alpha", JAPANESE) == "kokoro-jf_alpha"
    assert route("nova", "Hello there.", "en") == "hibari-heart"
    assert route("onyx", "Hello there.", "en-US") == "en_US-joe-medium"


def test_a_language_asked_for_moves_the_name_to_a_voice_of_it_and_its_gender() -> None:
    assert route("nova", JAPANESE, "ja") == "kokoro-jf_alpha"
    assert route("onyx", JAPANESE, "ja") == "kokoro-jm_kumo"
    assert route("kokoro-jm_kumo", "Good morning.", "en") == "en_US-joe-medium"
    assert route("kokoro-jf_nezumi", "Good morning.", "en") == "hibari-heart"
    # With no Japanese man installed, a Japanese woman rather than nothing.
    assert route("onyx", JAPANESE, "ja", "kokoro-jm_kumo") == "kokoro-jf_alpha"


def test_text_a_voice_cannot_read_is_refused_with_the_voices_that_can() -> None:
    with pytest.raises(ApiError) as refused:
        route("nova", JAPANESE)
    error = refused.value
    assert (error.status, error.code, error.param) == (400, "unsupported_language", "voice")
    assert "'nova' (hibari-heart) speaks en-us" in error.message and "Japanese" in error.message
    assert '"language": "ja"' in error.message and "kokoro-jf_alpha" in error.message


def test_with_no_voice_for_it_the_refusal_says_so() -> None:
    japanese = [name for name in REGISTRY.voices if name.startswith("kokoro-j")]
    with pytest.raises(ApiError) as refused:
        route("nova", JAPANESE, None, *japanese)
    assert refused.value.param == "input" and "no voice installed here can speak" in refused.value.message
    with pytest.raises(ApiError) as unknown:
        route("nova", "Hallo.", "de")
    assert unknown.value.param == "language" and "en, ja" in unknown.value.message
