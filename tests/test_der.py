"""The diarization scorer (tests/der.py) on hand-computed cases, and the diarization test recordings it scores."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from der import DerResult, Turn, _assign, der, format_rttm, parse_rttm, speaker_count

DATA = Path(__file__).parent / "data" / "diarization"


def turns(*spans: tuple[float, float, str]) -> list[Turn]:
    return [Turn(start, end, speaker) for start, end, speaker in spans]


def parts(result: DerResult) -> tuple[float, float, float, float]:
    return (
        round(result.miss, 6),
        round(result.false_alarm, 6),
        round(result.confusion, 6),
        round(result.total, 6),
    )


TWO = turns((0, 5, "A"), (5, 10, "B"))


def test_a_perfect_hypothesis_scores_zero_whatever_its_labels() -> None:
    result = der(TWO, turns((0, 5, "spk0"), (5, 10, "spk1")))
    assert parts(result) == (0, 0, 0, 10)
    assert result.der == 0
    assert result.mapping == {"A": "spk0", "B": "spk1"}


def test_swapped_labels_are_no_error() -> None:
    result = der(TWO, turns((0, 5, "B"), (5, 10, "A")))
    assert result.der == 0
    assert result.mapping == {"A": "B", "B": "A"}


def test_a_missed_turn_is_missed_speech() -> None:
    reference = turns((0, 4, "A"), (4, 6, "B"), (6, 10, "A"))
    result = der(reference, turns((0, 4, "x"), (6, 10, "x")))
    assert parts(result) == (2, 0, 0, 10)
    assert result.der == pytest.approx(0.2)


def test_speech_where_the_reference_has_none_is_false_alarm() -> None:
    reference = turns((0, 4, "A"))
    assert parts(der(reference, turns((0, 4, "x"), (6, 8, "y")))) == (0, 2, 0, 4)
    assert parts(der(reference, turns((0, 5, "x")))) == (0, 1, 0, 4)
    assert der(reference, turns((0, 5, "x"))).der == pytest.approx(0.25)


def test_the_wrong_speaker_is_confusion_under_the_best_mapping() -> None:
    # A->x agrees 5 s, B->y 3 s (8 s in all; A->y, B->x would agree 2 s): 5-7 s is B labelled x.
    result = der(TWO, turns((0, 7, "x"), (7, 10, "y")))
    assert parts(result) == (0, 0, 2, 10)
    assert result.mapping == {"A": "x", "B": "y"}


def test_one_hypothesis_speaker_for_two_is_confusion_for_the_smaller() -> None:
    assert parts(der(TWO, turns((0, 10, "x")))) == (0, 0, 5, 10)
    assert parts(der(turns((0, 10, "A")), turns((0, 5, "x"), (5, 10, "y")))) == (0, 0, 5, 10)


def test_an_empty_hypothesis_misses_everything() -> None:
    result = der(TWO, [])
    assert parts(result) == (10, 0, 0, 10)
    assert result.der == 1


def test_no_reference_speech_is_zero_or_one() -> None:
    assert der([], []).der == 0
    result = der([], turns((1, 3, "x")))
    assert parts(result) == (0, 2, 0, 0)
    assert result.der == 1


def test_a_collar_forgives_boundaries_and_is_not_scored() -> None:
    hypothesis = turns((0, 5.2, "x"), (5.2, 10, "y"))
    assert parts(der(TWO, hypothesis)) == (0, 0, 0.2, 10)
    # Unscored: [0, 0.25) at A's start, [4.75, 5.25) where A ends and B starts, [9.75, 10) at B's end.
    result = der(TWO, hypothesis, collar=0.25)
    assert parts(result) == (0, 0, 0, 9)
    # A boundary error wider than the collar is still counted beyond it.
    assert parts(der(TWO, turns((0, 5.5, "x"), (5.5, 10, "y")), collar=0.25)) == (0, 0, 0.25, 9)


def test_the_collar_also_goes_round_short_pauses_and_false_alarm_near_a_boundary() -> None:
    reference = turns((0, 2, "A"), (3, 5, "A"))  # boundaries at 0, 2, 3, 5
    hypothesis = turns((0, 5, "x"))  # bridges the pause: 1 s false alarm at collar 0
    assert parts(der(reference, hypothesis)) == (0, 1, 0, 4)
    # collar 0.25 leaves [2.25, 2.75) of the pause scored, and 4 - 4 * 0.25 s of speech.
    assert parts(der(reference, hypothesis, collar=0.25)) == (0, 0.5, 0, 3)


def test_overlapped_reference_speech_counts_each_speaker() -> None:
    reference = turns((0, 6, "A"), (4, 10, "B"))  # both talk 4-6 s: 12 s of reference speech
    hypothesis = turns((0, 5, "x"), (5, 10, "y"))  # one speaker at a time
    assert parts(der(reference, hypothesis)) == (2, 0, 0, 12)
    assert parts(der(reference, turns((0, 6, "x"), (4, 10, "y")))) == (0, 0, 0, 12)
    # Hypothesis overlap where the reference has one speaker is false alarm.
    assert parts(der(turns((0, 5, "A"), (5, 10, "B")), turns((0, 6, "x"), (4, 10, "y")))) == (0, 2, 0, 10)


def test_skip_overlap_leaves_out_overlapped_reference_speech() -> None:
    reference = turns((0, 6, "A"), (4, 10, "B"))
    result = der(reference, turns((0, 5, "x"), (5, 10, "y")), skip_overlap=True)
    assert parts(result) == (0, 0, 0, 8)
    # The confusion outside the overlap is still counted.
    assert parts(der(reference, turns((0, 10, "x")), skip_overlap=True)) == (0, 0, 4, 8)


def test_a_speakers_own_overlapping_turns_merge() -> None:
    reference = turns((0, 4, "A"), (2, 6, "A"))
    assert parts(der(reference, turns((0, 6, "x")))) == (0, 0, 0, 6)


def test_the_uem_bounds_scoring() -> None:
    reference = turns((0, 5, "A"), (5, 10, "B"))
    hypothesis = turns((0, 5, "x"), (5, 12, "y"))
    assert parts(der(reference, hypothesis)) == (0, 2, 0, 10)
    assert parts(der(reference, hypothesis, uem=(0, 10))) == (0, 0, 0, 10)
    assert parts(der(reference, hypothesis, uem=(2, 10))) == (0, 0, 0, 8)


def test_der_does_not_depend_on_label_names() -> None:
    rng = np.random.default_rng(7)
    reference = [Turn(float(s), float(s + d), f"r{k}") for s, d, k in rng.integers(0, 20, (30, 3)) % [50, 6, 4]]
    hypothesis = [Turn(float(s), float(s + d), f"h{k}") for s, d, k in rng.integers(0, 20, (30, 3)) % [50, 6, 5]]
    renamed = [Turn(t.start, t.end, {"h0": "z", "h1": "h3", "h3": "h1"}.get(t.speaker, t.speaker)) for t in hypothesis]
    assert parts(der(reference, hypothesis)) == parts(der(reference, renamed))
    assert der(reference, reference).der == 0


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 5), (5, 2), (6, 6), (4, 7)])
def test_the_assignment_matches_an_exhaustive_search(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        weights = rng.integers(0, 30, shape)
        pairs = _assign(weights)
        assert len(pairs) == min(shape)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
        rows, cols = shape
        best = max(
            sum(int(weights[r, c]) for r, c in zip(range(rows), perm, strict=True))
            if rows <= cols
            else sum(int(weights[r, c]) for r, c in zip(perm, range(cols), strict=True))
            for perm in itertools.permutations(range(max(shape)), min(shape))
        )
        assert sum(int(weights[r, c]) for r, c in pairs) == best


def test_parse_rttm_reads_speaker_lines_only() -> None:
    text = (
        ";; a comment\n"
        "SPKR-INFO meeting 1 <NA> <NA> <NA> unknown A <NA>\n"
        "SPEAKER meeting 1 5.000 2.5 <NA> <NA> B <NA> <NA>\n"
        "\n"
        "SPEAKER meeting 1 0.37 1.37 <NA> <NA> A <NA> <NA>\n"
        "SPEAKER other 1 1 1 <NA> <NA> C <NA> <NA>\n"
    )
    assert parse_rttm(text) == [Turn(0.37, 1.74, "A"), Turn(1.0, 2.0, "C"), Turn(5.0, 7.5, "B")]
    assert parse_rttm(text, uri="meeting") == [Turn(0.37, 1.74, "A"), Turn(5.0, 7.5, "B")]
    assert parse_rttm(format_rttm(parse_rttm(text, uri="meeting"), "meeting"), uri="meeting") == [
        Turn(0.37, 1.74, "A"),
        Turn(5.0, 7.5, "B"),
    ]


@pytest.mark.parametrize(
    "line", ["SPEAKER m 1 0.5 <NA> <NA> A", "SPEAKER m 1 x 1 <NA> <NA> A", "SPEAKER m 1 2 -1 <NA> <NA> A"]
)
def test_parse_rttm_rejects_malformed_speaker_lines(line: str) -> None:
    with pytest.raises(ValueError):
        parse_rttm(line)


def test_speaker_count_counts_speakers_with_speech() -> None:
    assert speaker_count(turns((0, 1, "A"), (1, 2, "B"), (2, 3, "A"), (3, 3, "C"))) == 2
    assert speaker_count([]) == 0


def manifest() -> list[dict]:
    return [json.loads(line) for line in (DATA / "manifest.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("entry", manifest(), ids=lambda entry: entry["file"])
def test_each_diarization_recording_matches_its_reference(entry: dict) -> None:
    info = sf.info(DATA / entry["file"])
    assert (info.samplerate, info.channels) == (16000, 1)
    assert info.duration == pytest.approx(entry["duration_s"], abs=0.01)
    reference = parse_rttm((DATA / entry["rttm"]).read_text())
    assert speaker_count(reference) == entry["speakers"]
    assert 2 <= entry["speakers"] <= 4
    assert all(0 <= turn.start < turn.end <= info.duration + 0.01 for turn in reference)
    assert der(reference, reference).der == 0
    assert der(reference, []).der == 1
