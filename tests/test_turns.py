"""The server's turn detection for live audio: where speech starts and stops, fed a little at a time."""

from __future__ import annotations

import numpy as np

from engines.audio.turns import RATE, Turn, TurnDetector, TurnSettings


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    return (level * np.sin(2 * np.pi * 200 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def turns(audio: np.ndarray, settings: TurnSettings, piece: float = 0.1) -> list[tuple[str, float]]:
    detector = TurnDetector(settings)
    found = []
    step = int(piece * RATE)
    for start in range(0, len(audio), step):
        found += detector.feed(audio[start : start + step])
    found += detector.flush()
    return [(t.kind, round(t.sample / RATE, 2)) for t in found]


def test_a_turn_reaches_back_by_the_padding_and_ends_after_the_silence() -> None:
    audio = np.concatenate([silence(1.0), tone(1.0), silence(1.0)])
    assert turns(audio, TurnSettings(prefix_padding_ms=300, silence_duration_ms=500)) == [
        ("started", 0.7),
        ("stopped", 2.5),
    ]


def test_a_pause_shorter_than_the_silence_does_not_end_the_turn() -> None:
    audio = np.concatenate([tone(1.0), silence(0.3), tone(1.0), silence(1.0)])
    assert [k for k, _ in turns(audio, TurnSettings(silence_duration_ms=500))] == ["started", "stopped"]
    assert [k for k, _ in turns(audio, TurnSettings(silence_duration_ms=200))] == ["started", "stopped"] * 2


def test_a_pause_is_known_before_the_silence_that_ends_the_turn_and_the_stop_says_where_speech_ended() -> None:
    detector = TurnDetector(TurnSettings(prefix_padding_ms=0, silence_duration_ms=500))
    assert detector.feed(tone(1.0)) == [Turn("started", 0)]
    assert detector.feed(silence(0.04)) == [] and detector.pause is None  # a dip inside a word
    assert detector.feed(silence(0.02)) == [] and detector.pause == RATE
    assert detector.feed(tone(0.2)) == [] and detector.pause is None  # the speech went on
    assert detector.feed(silence(0.6)) == [Turn("stopped", int(1.76 * RATE), speech_end=int(1.26 * RATE))]
    assert detector.pause is None


def test_a_click_is_no_turn_and_quiet_sound_is_under_the_threshold() -> None:
    click = np.concatenate([silence(0.5), tone(0.02), silence(1.0)])
    assert turns(click, TurnSettings()) == []
    hum = np.concatenate([tone(2.0, level=0.005), silence(0.5)])  # about -49 dBFS
    assert turns(hum, TurnSettings(threshold=0.5)) == []
    assert [k for k, _ in turns(hum, TurnSettings(threshold=0.1))] == ["started", "stopped"]


def test_a_turn_that_runs_long_is_cut_at_its_quietest_moment_and_goes_on() -> None:
    # 14 s of sound with a dip (quieter, but still speech) at 9.0 to 9.2 s; turns last at most 10 s.
    audio = np.concatenate([tone(9.0), tone(0.2, level=0.05), tone(4.8), silence(1.0)])
    found = turns(audio, TurnSettings(max_turn_s=10.0, silence_duration_ms=500))
    assert [k for k, _ in found] == ["started", "stopped", "started", "stopped"]
    assert 9.0 <= found[1][1] <= 9.2 and found[1][1] == found[2][1]
