"""The Kokoro-family engine in-process: hibari's heart and Kokoro-82M's Japanese voices, with the sentences,
levels, speeds and front ends that Piper's voices have."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from audio_tools import median_f0, sentence_levels

from engines.audio.levels import PEAK_LIMIT
from engines.base import SpeechSettings
from engines.kokoro.frontend import bounded
from engines.kokoro.model import SAMPLE_RATE
from engines.kokoro.voice import KokoroSynthesizer
from engines.loader import ModelFiles, ModelLoader
from engines.models.registry_files import load_registry
from engines.text.normalize import normalize
from server.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def loader() -> ModelLoader:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    return ModelLoader(registry, ModelFiles(Settings.from_env().cache_dir), has_cuda=False)


def _voice(loader: ModelLoader, name: str) -> KokoroSynthesizer:
    voice = loader.synthesizer(name, loader.registry.models["openai/tts-1"])
    assert isinstance(voice, KokoroSynthesizer)
    return voice


@pytest.fixture(scope="module")
def heart(loader: ModelLoader) -> Iterator[KokoroSynthesizer]:
    yield _voice(loader, "hibari-heart")


@pytest.fixture(scope="module")
def alpha(loader: ModelLoader) -> Iterator[KokoroSynthesizer]:
    yield _voice(loader, "kokoro-jf_alpha")


def test_heart_is_a_24_khz_american_voice_of_its_own_engine(heart: KokoroSynthesizer) -> None:
    info = heart.info
    assert (info.engine, info.language, info.sample_rate) == ("kokoro", "en-us", SAMPLE_RATE)
    assert "hibari" in info.made_by and heart.model.distilled


def test_sentences_pauses_and_a_quick_first_clause(heart: KokoroSynthesizer) -> None:
    text = "Although it was late, we walked all the way to the station near the river. Then we rested.\n\nThe end."
    pieces = heart.pieces(text)
    # The first sentence is split after its clause break, the rest stays whole; pauses as Piper's.
    assert "".join(pieces[0].units).endswith(",") and pieces[0].pause_after_s == 0.0
    assert [p.pause_after_s for p in pieces[1:]] == [0.2, 0.6, 0.0]
    assert heart.pieces("...") == []


def test_a_sentence_too_long_for_the_model_is_cut_between_clauses_or_words() -> None:
    clause = "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˈOvəɹ ðə lˈAzi dˈɔɡ"
    long = ", ".join([clause] * 20) + "."
    pieces = bounded(long, 120)
    assert all(len(p) <= 120 for p in pieces) and len(pieces) > 5
    assert " ".join(pieces).replace(" ", "") == long.replace(" ", "")
    # With no clause break, between words: every piece is whole words.
    words = " ".join([clause] * 20)
    assert all(len(p) <= 120 and set(p.split()) <= set(clause.split()) for p in bounded(words, 120))


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.5, 2.0, 4.0])
def test_speed_divides_the_length(heart: KokoroSynthesizer, speed: float) -> None:
    for text in ("Testing the speed setting once more.", "Revenue grew in every region, although costs rose."):
        units = heart.pieces(text, quick_start=False)[0].units
        ratio = len(heart.render(units, SpeechSettings(), speed)) / len(heart.render(units, SpeechSettings(), 1.0))
        assert ratio == pytest.approx(1 / speed, rel=0.1), text


def test_a_faster_voice_keeps_its_pitch(heart: KokoroSynthesizer) -> None:
    units = heart.pieces("Testing the pitch at another speed.", quick_start=False)[0].units
    normal = median_f0(heart.render(units, SpeechSettings(), 1.0), SAMPLE_RATE)
    fast = median_f0(heart.render(units, SpeechSettings(), 3.0), SAMPLE_RATE)
    assert fast == pytest.approx(normal, rel=0.15)


def test_sentences_keep_one_level_with_headroom(heart: KokoroSynthesizer) -> None:
    peaks, levels = zip(*sentence_levels(heart), strict=True)
    assert max(peaks) <= PEAK_LIMIT + 1e-6
    assert len(levels) == 5
    assert max(levels) - min(levels) < 3.0, levels
    assert -23 < sum(levels) / 5 < -17  # about the -20 dBFS target


def test_edges_of_silence_are_about_pipers(heart: KokoroSynthesizer) -> None:
    audio = heart.render(heart.pieces("Hello there.")[0].units, SpeechSettings())
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.max(np.abs(audio)))
    assert loud[0] / SAMPLE_RATE < 0.1 and (len(audio) - loud[-1]) / SAMPLE_RATE < 0.25


def test_japanese_is_read_as_japanese(alpha: KokoroSynthesizer) -> None:
    assert (alpha.info.language, alpha.model.distilled) == ("ja", False)
    pieces = alpha.pieces("今日はいい天気ですね。散歩に行きましょう。")
    assert len(pieces) == 2
    # Kana and kanji become Kokoro's phonemes, not letter names.
    assert "".join(pieces[0].units) == "kʲoː βa ii teŋkʲi desɨ ne."


# Both sides of 1x (the model's own slower speech; faster speech stretched); the extremes are heart's.
@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_a_japanese_voice_keeps_the_speeds_too(alpha: KokoroSynthesizer, speed: float) -> None:
    units = alpha.pieces("明日の会議は午後三時から始まります。", quick_start=False)[0].units
    ratio = len(alpha.render(units, SpeechSettings(), speed)) / len(alpha.render(units, SpeechSettings(), 1.0))
    assert ratio == pytest.approx(1 / speed, rel=0.1)


def test_japanese_text_is_normalised_before_its_phonemes() -> None:
    assert normalize("価格は¥1,500です。", "ja") == "価格は1500円です。"
    assert normalize("気温は25℃、湿度は60%です。", "ja") == "気温は25度、湿度は60パーセントです。"
    assert normalize("会議は10:30から、距離は2.5kmです。", "ja") == "会議は10時30分から、距離は2点五キロメートルです。"


def test_the_japanese_voices_share_one_model_and_front_end(loader: ModelLoader, alpha: KokoroSynthesizer) -> None:
    kumo = _voice(loader, "kokoro-jm_kumo")
    assert kumo.model is alpha.model and kumo.phonemize is alpha.phonemize  # one model, one front end
    assert kumo.styles is not None and alpha.styles is not None and not np.array_equal(kumo.styles, alpha.styles)
    # One copy of the joined model on disk, linked into each voice's folder.
    cache = Settings.from_env().cache_dir / "assembled"
    assert (cache / "kokoro-jf_alpha" / "model.onnx").resolve() == (cache / "kokoro-jm_kumo" / "model.onnx").resolve()
