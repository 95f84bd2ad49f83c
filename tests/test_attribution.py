"""Words given to speakers and segments cut where the speaker changes; known speakers matched to the ones
found. Pure functions, no models."""

from __future__ import annotations

import numpy as np

from engines.base import Segment, SpeakerTurn, Word
from engines.diarize.cluster import match
from server.core.attribution import attribute, speaker_at


def segment(index: int, *words: tuple[float, float, str]) -> Segment:
    return Segment(
        id=index,
        seek=0,
        start=words[0][0],
        end=words[-1][1],
        text="".join(f" {w}" for _, _, w in words),
        tokens=(1, 2),
        temperature=0.0,
        avg_logprob=-0.1,
        compression_ratio=1.0,
        no_speech_prob=0.0,
        words=tuple(Word(a, b, f" {w}", 0.9) for a, b, w in words),
    )


TURNS = [SpeakerTurn(0.0, 2.0, "A"), SpeakerTurn(2.2, 4.0, "B")]


def test_a_segment_spanning_a_change_of_speaker_is_cut_there() -> None:
    said = attribute(
        [segment(0, (0.0, 0.9, "Hello"), (1.0, 1.9, "there."), (2.3, 3.0, "Hi"), (3.1, 3.8, "you."))], TURNS
    )
    assert [(s.id, s.start, s.end, s.speaker, s.text) for s in said] == [
        (0, 0.0, 1.9, "A", " Hello there."),
        (1, 2.3, 3.8, "B", " Hi you."),
    ]
    # The parts' tokens are unknown; their words keep their speaker.
    assert said[0].tokens == () and [w.speaker for w in said[1].words] == ["B", "B"]


def test_a_segment_of_one_speaker_stays_whole() -> None:
    whole = segment(0, (0.0, 0.9, "Hello"), (1.0, 1.9, "there."))
    [said] = attribute([whole], TURNS)
    assert said.tokens == whole.tokens and said.text == whole.text and said.speaker == "A"


def test_a_word_in_no_turn_goes_to_the_nearest_speaker_close_by_else_the_one_before() -> None:
    assert speaker_at(TURNS, 2.12, 2.18) == "B"  # in the gap, nearer B's start
    assert speaker_at(TURNS, 4.5, 4.7) == "B"  # after the last turn, within a second
    assert speaker_at(TURNS, 9.0, 9.5) is None
    said = attribute([segment(0, (0.5, 1.0, "one")), segment(1, (9.0, 9.5, "two"))], TURNS)
    assert [s.speaker for s in said] == ["A", "A"]


def test_a_word_overlapping_two_turns_goes_to_the_one_it_overlaps_most() -> None:
    assert speaker_at(TURNS, 1.5, 2.4) == "A"
    assert speaker_at(TURNS, 1.9, 2.9) == "B"


def test_known_speakers_are_matched_one_to_one_whichever_side_has_more() -> None:
    eye = np.eye(4, dtype=np.float32)
    # One known speaker, three found: the one found that is them.
    assert match(eye[[2]], eye[:3], 0.5) == {2: 0}
    # Three known, one found.
    assert match(eye[:3], eye[[1]], 0.5) == {0: 1}
    # Two of each, crossed; and nobody under the threshold.
    assert match(eye[:2], eye[[1, 0]], 0.5) == {0: 1, 1: 0}
    assert match(eye[:2], eye[2:], 0.5) == {}
