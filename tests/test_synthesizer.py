"""The Piper engine in-process: sentence pieces and speed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from audio_tools import sentence_levels

from engines.audio.levels import PEAK_LIMIT
from engines.audio.stretch import stretch
from engines.base import Pauses, SpeechSettings
from engines.loader import ModelFiles, ModelLoader
from engines.models.registry_files import load_registry
from engines.piper.voice import PiperSynthesizer
from server.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def joe() -> Iterator[PiperSynthesizer]:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    loader = ModelLoader(registry, ModelFiles(Settings.from_env().cache_dir), has_cuda=False)
    yield loader.synthesizer("en_US-joe-medium", registry.models["openai/tts-1"])


def test_a_long_first_sentence_is_split_only_at_a_clause_break(joe: PiperSynthesizer) -> None:
    text = "Although it was late, we walked all the way to the station near the river. Then we rested."
    pieces = joe.pieces(text)
    assert len(pieces) == 3
    assert pieces[0].units[-1] == ","  # after the clause, not at some word
    assert pieces[0].pause_after_s == 0.0  # the comma's own pause, nothing added
    assert joe.pieces(text, quick_start=False)[0].units == pieces[0].units + pieces[1].units


@pytest.mark.parametrize(
    "text",
    [
        "The library closes at half past six on Thursdays and Fridays during the summer months.",
        "Please bring the blue folder to the second floor meeting room before noon tomorrow.",
    ],
)
def test_no_split_lands_at_a_plain_word_boundary(joe: PiperSynthesizer, text: str) -> None:
    pieces = joe.pieces(text)
    assert len(pieces) == 1, ["".join(p.units) for p in pieces]
    for piece in joe.pieces(text + " " + text.replace(" and ", ", and ")):
        assert piece.units[-1] in {",", ";", ":", ".", "!", "?", "—", "–"}, "".join(piece.units)


def test_pauses_follow_sentences_and_paragraphs(joe: PiperSynthesizer) -> None:
    pieces = joe.pieces("One short line. Another one.\n\nA new paragraph here. The end.", Pauses(0.25, 0.7))
    assert [p.pause_after_s for p in pieces] == [0.25, 0.7, 0.25, 0.0]


def test_short_sentences_stay_whole(joe: PiperSynthesizer) -> None:
    assert len(joe.pieces("Hello there. How are you?")) == 2
    assert joe.pieces("...") == []


SPEEDS = [0.25, 0.5, 0.75, 1.5, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("speed", SPEEDS)
def test_speed_divides_the_length(joe: PiperSynthesizer, speed: float) -> None:
    still = SpeechSettings(noise_w_scale=0.0)  # no random phoneme lengths, so lengths compare exactly
    for text in ("Testing the speed setting once more.", "Revenue grew in every region, although costs rose."):
        phonemes = joe.pieces(text, quick_start=False)[0].units
        ratio = len(joe.render(phonemes, still, speed)) / len(joe.render(phonemes, still, 1.0))
        assert ratio == pytest.approx(1 / speed, rel=0.1), text


def test_stretching_keeps_the_pitch() -> None:
    rate = 22050
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    fast = stretch(tone, 2.0, rate)
    assert len(fast) == pytest.approx(rate / 2, abs=2)
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    assert np.fft.rfftfreq(len(fast), 1 / rate)[int(np.argmax(spectrum))] == pytest.approx(200, abs=5)


def test_plain_length_scale_would_not_be_proportional(joe: PiperSynthesizer) -> None:
    # Why render solves for the scale: dividing it by the speed leaves the frame rounding.
    phonemes = joe.pieces("Testing the speed setting once more.")[0].units
    still = SpeechSettings(noise_w_scale=0.0)
    assert joe.rounding_share > 0.1
    assert len(joe._raw(phonemes, still, 0.5)) / len(joe._raw(phonemes, still, 1.0)) > 0.55


def test_sentences_keep_one_level_with_headroom(joe: PiperSynthesizer) -> None:
    peaks, levels = zip(*sentence_levels(joe), strict=True)
    assert max(peaks) <= PEAK_LIMIT + 1e-6
    assert len(levels) == 5
    assert max(levels) - min(levels) < 3.0, levels
    assert -23 < sum(levels) / 5 < -17  # about the -20 dBFS target
