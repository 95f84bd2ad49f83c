"""The Piper engine in-process: sentence pieces and speed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engines.loader import ModelFiles, ModelLoader
from engines.registry import load_registry
from engines.synthesizer import QUICK_START_PHONEMES, Synthesizer, VoiceSettings
from server.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def joe() -> Iterator[Synthesizer]:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    loader = ModelLoader(registry, ModelFiles(Settings.from_env().cache_dir), has_cuda=False)
    yield loader.synthesizer("en_US-joe-medium", registry.models["openai/tts-1"])


def test_long_first_sentence_starts_with_a_short_piece(joe: Synthesizer) -> None:
    text = "The committee met on Tuesday morning to review the quarterly results. Revenue grew again."
    pieces = joe.sentences(text)
    assert len(pieces) == 3
    assert QUICK_START_PHONEMES <= len(pieces[0]) < 2 * QUICK_START_PHONEMES
    assert pieces[0][-1] == " "  # cut between words, never inside one
    assert joe.sentences(text, quick_start=False)[0] == pieces[0] + pieces[1]


def test_clause_punctuation_is_preferred(joe: Synthesizer) -> None:
    pieces = joe.sentences("Although it was late, we walked all the way to the station near the river.")
    assert "".join(pieces[0]).endswith(",")


def test_short_sentences_stay_whole(joe: Synthesizer) -> None:
    assert len(joe.sentences("Hello there. How are you?")) == 2
    assert joe.sentences("...") == []


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.5, 2.0])
def test_speed_divides_the_length(joe: Synthesizer, speed: float) -> None:
    still = VoiceSettings(noise_w_scale=0.0)  # no random phoneme lengths, so lengths compare exactly
    for text in ("Testing the speed setting once more.", "Revenue grew in every region, although costs rose."):
        sentence = joe.sentences(text, quick_start=False)[0]
        ratio = len(joe.render(sentence, still, speed)) / len(joe.render(sentence, still, 1.0))
        assert ratio == pytest.approx(1 / speed, rel=0.1), text


def test_plain_length_scale_would_not_be_proportional(joe: Synthesizer) -> None:
    # Why render solves for the scale: dividing it by the speed leaves the frame rounding.
    sentence = joe.sentences("Testing the speed setting once more.")[0]
    still = VoiceSettings(noise_w_scale=0.0)
    assert joe.rounding_share > 0.1
    assert len(joe._raw(sentence, still, 0.5)) / len(joe._raw(sentence, still, 1.0)) > 0.55
