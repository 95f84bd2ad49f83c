"""The diarizer on its real weights, judged by what it finds: the error on a real meeting and on a conversation
of real speakers, the speaker counts asked for, known speakers named, letters in order, silence left alone.
The error bounds are loose (the measured errors are half of them or less; see scripts/bench/diarization.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT
from conversations import Conversation, conversation
from der import Turn, der, parse_rttm

from engines.audio.decode import WHISPER_RATE, decode
from engines.base import Diarization, DiarizationOptions, KnownSpeaker
from engines.diarize.pipeline import SpeakerDiarizer
from engines.models.registry_files import load_registry
from engines.models.sources import materialize

SLUG = "local/speaker-diarization"
MEETING = ROOT / "tests" / "data" / "diarization" / "ami_es2003a_2spk"
"""Two men in one room, 30 s: the speakers sound alike enough that a loose threshold hears one."""


@pytest.fixture(scope="module")
def diarizer(tmp_path_factory: pytest.TempPathFactory) -> SpeakerDiarizer:
    source = load_registry(ROOT / "models.toml").models[SLUG].source
    assert source is not None
    weights = materialize(source, SLUG, tmp_path_factory.mktemp("cache"))
    return SpeakerDiarizer.load(weights / "segmentation.onnx", weights / "encoder.pt")


@pytest.fixture(scope="module")
def meeting() -> tuple[np.ndarray, list[Turn]]:
    return decode(MEETING.with_suffix(".flac")), parse_rttm(MEETING.with_suffix(".rttm").read_text())


@pytest.fixture(scope="module")
def readers() -> Conversation:
    """Kennedy, a LibriVox reader and the cards speaker in twelve turns, a minute in all."""
    return conversation("three_readers")


def hypothesis(diarization: Diarization) -> list[Turn]:
    return [Turn(t.start, t.end, t.speaker) for t in diarization.turns]


def speakers(diarization: Diarization) -> set[str]:
    return {t.speaker for t in diarization.turns}


def test_a_meeting_of_two_alike_voices_is_told_apart(
    diarizer: SpeakerDiarizer, meeting: tuple[np.ndarray, list[Turn]]
) -> None:
    audio, reference = meeting
    found = diarizer.diarize(audio, DiarizationOptions())
    assert len(speakers(found)) == 2
    assert der(reference, hypothesis(found), collar=0.25).der < 0.15


def test_a_conversation_of_three_readers_is_diarized(diarizer: SpeakerDiarizer, readers: Conversation) -> None:
    heard = diarizer.diarize(readers.audio16k, DiarizationOptions())
    reference = [Turn(t.start, t.end, t.speaker) for t in readers.turns]
    assert len(speakers(heard)) == 3
    assert der(reference, hypothesis(heard), collar=0.25).der < 0.2


def test_letters_follow_the_order_speakers_first_speak(diarizer: SpeakerDiarizer) -> None:
    """Four voices, the first to speak having the least to say: letters by first word, not by share."""
    exchange = conversation("quick_exchange")
    reference = [Turn(t.start, t.end, t.speaker) for t in exchange.turns]
    found = diarizer.diarize(exchange.audio16k, DiarizationOptions())
    assert list(dict.fromkeys(t.speaker for t in found.turns)) == ["A", "B", "C", "D"]
    assert sorted(found.voices) == ["A", "B", "C", "D"]
    mapping = der(reference, hypothesis(found)).mapping
    assert [mapping.get(speaker) for speaker in dict.fromkeys(t.speaker for t in exchange.turns)] == [
        "A",
        "B",
        "C",
        "D",
    ]


@pytest.mark.parametrize(
    ("options", "counts"),
    [
        (DiarizationOptions(num_speakers=1), {1}),
        (DiarizationOptions(num_speakers=3), {3}),
        (DiarizationOptions(min_speakers=3, max_speakers=4), {3, 4}),
        (DiarizationOptions(max_speakers=1), {1}),
    ],
    ids=["exactly_one", "exactly_three", "at_least_three", "at_most_one"],
)
def test_the_speaker_counts_asked_for_are_kept(
    diarizer: SpeakerDiarizer, meeting: tuple[np.ndarray, list[Turn]], options: DiarizationOptions, counts: set[int]
) -> None:
    """The meeting has two speakers, which the diarizer finds when asked nothing (see above)."""
    found = diarizer.diarize(meeting[0], options)
    assert len(speakers(found)) in counts
    assert len(found.voices) in counts


def test_a_known_speaker_is_named_and_the_others_are_lettered(diarizer: SpeakerDiarizer, readers: Conversation) -> None:
    kennedy = decode(ROOT / "tests" / "data" / "jfk_ask_not.flac")
    known = (KnownSpeaker("Kennedy", diarizer.voiceprint(kennedy)),)
    found = diarizer.diarize(readers.audio16k, DiarizationOptions(known=known))
    assert speakers(found) == {"Kennedy", "A", "B"}
    # Of Kennedy's speech, the share named Kennedy; of each other reader's, the share named Kennedy.
    named = _shares(readers, hypothesis(found), "Kennedy")
    assert named["kennedy"] > 0.9
    assert max(share for who, share in named.items() if who != "kennedy") < 0.1


def test_silence_has_no_speakers(diarizer: SpeakerDiarizer) -> None:
    found = diarizer.diarize(np.zeros(10 * WHISPER_RATE, dtype=np.float32), DiarizationOptions())
    assert found.turns == []
    assert found.voices == {}


def _shares(readers: Conversation, turns: list[Turn], name: str) -> dict[str, float]:
    """For each reference speaker, the share of the speech heard in their turns that `turns` give to `name`
    (a turn's pauses, where no one is heard, are left out)."""
    step = 0.01
    frames = int(readers.duration / step) + 1
    heard, named = np.zeros(frames, dtype=bool), np.zeros(frames, dtype=bool)
    for turn in turns:
        heard[int(turn.start / step) : int(turn.end / step)] = True
        if turn.speaker == name:
            named[int(turn.start / step) : int(turn.end / step)] = True
    spoken: dict[str, list[bool]] = {}
    for said in readers.turns:
        at = slice(int(said.start / step), int(said.end / step))
        spoken.setdefault(said.speaker, []).extend(named[at][heard[at]].tolist())
    return {who: float(np.mean(values)) for who, values in spoken.items()}
