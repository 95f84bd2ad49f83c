"""Speech that a chunk's words leave out: found from the words' times, read again, and joined in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import clip_path
from wer import wer

from engines.audio.decode import WHISPER_RATE, decode
from engines.base import TranscriptionOptions, full_text
from engines.loader import ModelFiles, ModelLoader
from engines.models.registry_files import load_registry
from engines.whisper.checks import Attempt
from engines.whisper.coverage import LONGEST_WORD_S, UNCOVERED_S, extended, left_out, passed_over, rest, uncovered
from engines.whisper.policy import Batching
from engines.whisper.transcriber import WhisperTranscriber
from server.config import PROJECT_ROOT, Settings

AGAIN = Attempt(tokens=[2], avg_logprob=-0.3, no_speech_prob=0.05, compression_ratio=1.1, temperature=0.0)


def word(text: str, start: float, end: float) -> dict[str, Any]:
    return {"word": text, "start": start, "end": end, "probability": 0.9}


def segment(*words: dict[str, Any]) -> dict[str, Any]:
    text = "".join(w["word"] for w in words)
    return {
        "seek": 0,
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "text": text,
        "tokens": [],
        "words": list(words),
    }


def encode(text: str) -> list[int]:
    return [len(w) for w in text.split()]


def test_speech_past_the_last_word_is_uncovered() -> None:
    # The chunk of the issue: its text stops after the first turn, 16 s before its speech does.
    turn = segment(word(" Unless", 0.1, 0.7), word(" a", 0.7, 0.9), word(" system.", 0.9, 1.5))
    assert uncovered([turn], 24.6) == [(1.5, 24.6)]
    # Words that reach to within VAD's padding of the end, with pauses between them, leave nothing out.
    whole = segment(word(" Ask", 0.4, 0.8), word(" not.", 0.8, 1.3), word(" What", 2.1, 2.4), word(" you", 2.4, 3.3))
    assert uncovered([whole], 3.9) == []
    # The alignment may stretch the last word over the speech that the text left out.
    stretched = segment(word(" Ask", 0.4, 0.8), word(" not.", 0.8, 9.6))
    assert uncovered([stretched], 10.2) == [(0.8 + LONGEST_WORD_S, 10.2)]


def test_a_turn_passed_over_in_the_middle_and_a_late_start_are_uncovered() -> None:
    words = segment(word(" Four", 3.0, 3.3), word(" queen.", 3.3, 4.0), word(" He", 9.0, 9.4), word(" was.", 9.4, 9.9))
    assert uncovered([words], 10.5) == [(0.0, 3.0), (4.0, 9.0)]
    assert uncovered([segment(word(" Hi", 0.0, 1.0)), segment(word(" there", 1.0 + UNCOVERED_S, 3.0))], 3.2) == [
        (1.0, 1.0 + UNCOVERED_S)
    ]


def test_a_chunk_with_no_words_has_nothing_uncovered() -> None:
    # No text is Whisper hearing no speech: the noise checks judge that, not a second reading.
    assert uncovered([], 20.0) == []
    assert uncovered([{"seek": 0, "start": 0.0, "end": 20.0, "text": "", "tokens": [], "words": []}], 20.0) == []


def test_the_rest_is_read_where_the_words_stop_and_a_turn_passed_over_is_told_apart() -> None:
    stopped = [segment(word(" Unless", 0.1, 0.7), word(" a", 0.7, 0.9), word(" system.", 0.9, 1.5))]
    assert rest(stopped, 24.6) == 1.5 and not passed_over(stopped, 24.6)
    assert left_out(stopped, 24.6) == pytest.approx(23.1)
    skipped = [
        segment(word(" Four", 0.2, 0.5), word(" queen.", 0.5, 1.0), word(" He", 9.0, 9.4), word(" was.", 9.4, 9.9))
    ]
    assert rest(skipped, 10.5) is None and passed_over(skipped, 10.5)
    assert left_out(skipped, 10.5) == pytest.approx(8.0)
    # A few seconds here and there are more often speakers over each other than a turn passed over.
    overlapped = [segment(word(" Yeah", 0.2, 0.5), word(" so", 3.0, 3.3), word(" okay.", 6.0, 6.4))]
    assert uncovered(overlapped, 6.9) == [(0.5, 3.0), (3.3, 6.0)] and not passed_over(overlapped, 6.9)


def test_the_rest_goes_after_the_words_without_repeating_the_last_one() -> None:
    first = [segment(word(" Ask", 0.0, 0.4), word(" not", 0.4, 0.8), word(" what", 0.8, 3.0))]
    again = segment(
        word(" what", 0.0, 0.3),  # the first reading's last word went on past 3.0 s: said once, kept once
        word(" your", 1.0, 1.4),
        word(" country.", 1.4, 2.0),
    )
    both = extended(first, 3.0, [again], AGAIN, encode)
    assert [s["text"] for s in both] == [" Ask not what", " your country."]
    assert [(w["start"], w["end"]) for w in both[1]["words"]] == [(4.0, 4.4), (4.4, 5.0)]
    assert (both[1]["start"], both[1]["end"], both[1]["tokens"]) == (4.0, 5.0, encode(" your country."))
    # The noise guard judges the rest by its own reading.
    assert "attempt" not in both[0] and both[1]["attempt"] == AGAIN
    # A last word that the alignment stretched over the rest ends where the rest starts.
    stretched = [segment(word(" Ask", 0.0, 0.4), word(" not", 0.4, 9.6))]
    start = rest(stretched, 10.0)
    assert start == 0.4 + LONGEST_WORD_S
    ended = extended(stretched, start, [segment(word(" what", 0.5, 0.9))], AGAIN, encode)
    assert (ended[0]["end"], ended[0]["words"][-1]["end"], ended[1]["start"]) == (start, start, start + 0.5)
    # A rest with nothing new adds nothing.
    assert extended(first, 3.0, [segment(word(" what", 0.0, 0.3))], AGAIN, encode) == first
    assert extended(first, 3.0, [], AGAIN, encode) == first


# ------------------------------------------------------------ on the embedded models

LJ = "ljspeech_lj050_0131.flac"
JFK = "jfk_ask_not.flac"


@pytest.fixture(scope="module")
def tiny() -> Iterator[WhisperTranscriber]:
    registry = load_registry(PROJECT_ROOT / "models.toml")
    loader = ModelLoader(registry, ModelFiles(Settings.from_env().cache_dir), has_cuda=False)
    transcriber = loader.transcriber(registry.models["local/whisper-tiny.en"])
    assert isinstance(transcriber, WhisperTranscriber)
    yield transcriber


class _CutShort:
    """CTranslate2's Whisper, but its first decoding ends (confidently) where its text first says
    `last`: what text-only decoding does to some chunks, made to happen on any CPU."""

    def __init__(self, model: Any, decode_tokens: Any, last: str) -> None:
        self._model, self._decode, self._last = model, decode_tokens, last
        self.cut = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def generate(self, *args: Any, **kwargs: Any) -> list[Any]:
        results = self._model.generate(*args, **kwargs)
        if self.cut:
            return list(results)
        self.cut = True
        out = []
        for result in results:
            tokens = list(result.sequences_ids[0])
            end = next(i for i in range(1, len(tokens) + 1) if self._last in self._decode(tokens[:i]))
            out.append(_Result(tokens[:end], result.scores[0], result.no_speech_prob))
        return out


class _Result:
    def __init__(self, tokens: list[int], score: float, no_speech_prob: float) -> None:
        self.sequences_ids, self.scores, self.no_speech_prob = [tokens], [score], no_speech_prob


@pytest.mark.models
def test_a_chunk_whose_text_stops_before_its_speech_is_read_again(
    tiny: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two readers with a short pause, one chunk; its first decoding stops after the first reader.
    engine = WhisperTranscriber(model=tiny.model, beam_size=tiny.beam_size, batching=Batching(4, 1, wait_s=0.0))
    pause = np.zeros(WHISPER_RATE // 2, np.float32)
    audio = np.concatenate([decode(clip_path(JFK)), pause, decode(clip_path(LJ))])
    options = TranscriptionOptions(language="en", word_timestamps=True)
    whole = full_text(list(engine.stream(audio, options)[1]))
    assert engine.batcher.stopped_early == 0
    cut = _CutShort(tiny.model.model, tiny.model.hf_tokenizer.decode, "do for your country")
    monkeypatch.setattr(tiny.model, "model", cut)
    segments = list(engine.stream(audio, options)[1])
    assert cut.cut and engine.batcher.stopped_early == 1
    text = full_text(segments)
    assert "system" in text and wer(whole, text) <= 0.1, (whole, text)
    words = [w for s in segments for w in s.words]
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert min(w.start for w in words if "system" in w.word) > 11.0  # where the second reader says it
