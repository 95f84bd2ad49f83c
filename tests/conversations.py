"""Conversations of several real speakers, built from the test clips: turns joined with short pauses,
with who speaks when and what they say, for the tests that compare decoding modes and for diarization."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engines.audio.decode import WHISPER_RATE, decode

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Part:
    """A stretch of one clip, cut at pauses: who says it, and what (the clip's reference text)."""

    clip: str
    speaker: str
    text: str
    start: float = 0.0
    """Seconds into the clip."""
    end: float | None = None
    """None: to the clip's end."""


JFK = "jfk_ask_not.flac"
AUSTEN_0880 = "librivox_sense_and_sensibility_0880.mp3"
AUSTEN_0930 = "librivox_sense_and_sensibility_0930.webm"
CARDS = "pocketsphinx_cards_002.wav"
JOE = "piper_joe_2x_train_tickets.flac"
LJ = "ljspeech_lj050_0131.flac"

PARTS = {
    # Kennedy's sentence in its three phrases (cut in the pauses between them).
    "americans": Part(JFK, "kennedy", "And so my fellow Americans,", 0.25, 2.2),
    "ask_not": Part(JFK, "kennedy", "ask not what your country can do for you,", 3.15, 7.6),
    "ask_what": Part(JFK, "kennedy", "ask what you can do for your country.", 8.1, 10.9),
    # One LibriVox reader, two sentences.
    "ill_disposed": Part(AUSTEN_0880, "austen_reader", "he was not an ill disposed young man"),
    "amiable": Part(AUSTEN_0930, "austen_reader", "he might even have been made amiable himself"),
    "queen": Part(CARDS, "cards_speaker", "four queen of clubs"),
    # Synthesized (the server's own voice, twice as fast): not a real recording, but a fourth voice.
    "tickets": Part(JOE, "piper_joe", "Please call me back tomorrow morning about the train tickets."),
    # A long turn (7.7 s) from a fifth reader, of the LJ Speech recordings.
    "review": Part(
        LJ,
        "lj_reader",
        "unless a system is established for the frequent formal review of activities thereunder. in this regard",
    ),
}
WITHIN_TURN_PAUSE_S = 0.3
"""Between two parts of one speaker's turn."""


@dataclass(frozen=True)
class Spec:
    """A conversation to build: its turns (each a run of one speaker's parts), and the pauses between
    turns, taken in order and repeated as needed."""

    turns: tuple[tuple[str, ...], ...]
    gaps: tuple[float, ...] = (0.4, 0.25, 0.7, 0.5, 0.3, 0.8, 0.2, 0.6)
    lead_s: float = 0.5
    """Silence before the first turn and after the last."""


class Turn(NamedTuple):
    start: float
    end: float
    speaker: str
    text: str


@dataclass(frozen=True)
class Conversation:
    audio16k: np.ndarray
    """Mono float32 at 16 kHz."""
    turns: list[Turn]

    @property
    def text(self) -> str:
        return " ".join(turn.text for turn in self.turns)

    @property
    def duration(self) -> float:
        return len(self.audio16k) / WHISPER_RATE


SPECS = {
    # Kennedy, the LibriVox reader and the cards speaker, 62 s, ending on a long turn.
    "three_readers": Spec(
        (
            ("americans", "ask_not"),
            ("ill_disposed",),
            ("queen",),
            ("ask_what",),
            ("amiable", "ill_disposed"),
            ("queen",),
            ("americans",),
            ("amiable",),
            ("ask_not", "ask_what"),
            ("queen",),
            ("ill_disposed", "amiable"),
            ("americans", "ask_not", "ask_what"),
        )
    ),
    # Four voices in quick exchanges (the fourth synthesized), 48 s, ending on short turns.
    "quick_exchange": Spec(
        (
            ("queen",),
            ("tickets",),
            ("ill_disposed",),
            ("americans",),
            ("queen",),
            ("amiable",),
            ("tickets",),
            ("ask_not",),
            ("ill_disposed", "amiable"),
            ("queen",),
            ("ask_what",),
            ("tickets",),
            ("amiable",),
            ("americans", "ask_not"),
            ("queen",),
            ("ill_disposed",),
        ),
        gaps=(0.3, 0.5, 0.2, 0.6, 0.4, 0.8),
    ),
    # Four real readers, 47 s, opening and ending on long turns. Decoding its second chunk as text
    # alone, Whisper base stopped after the first turn (the LJ reader's) and left out the last 15 s,
    # four turns: 60 of its 98 words came out batched, 90 sequentially (on a 2-core AMD EPYC).
    "reading_circle": Spec(
        (
            ("review",),
            ("ill_disposed",),
            ("ask_what",),
            ("queen",),
            ("amiable",),
            ("queen",),
            ("review",),
            ("ask_what",),
            ("americans",),
            ("ill_disposed", "amiable"),
            ("americans",),
        ),
        gaps=(0.26, 0.39, 0.52, 0.24, 0.39, 0.73, 0.79, 0.58),
    ),
    # The same four, 58 s, ending on the LJ reader's long turn. Whisper base, as text alone, read
    # only that last turn of the second chunk's 28 s: 65 of its 116 words came out batched, 108
    # sequentially (on the same CPU).
    "reading_circle_long": Spec(
        (
            ("americans",),
            ("ill_disposed",),
            ("review",),
            ("queen",),
            ("ask_not",),
            ("queen",),
            ("amiable",),
            ("ask_what", "americans"),
            ("amiable",),
            ("ill_disposed",),
            ("ask_not", "ask_what"),
            ("review",),
        ),
        gaps=(0.73, 0.67, 0.61, 0.71, 0.56, 0.41, 0.54, 0.48),
    ),
}


@cache
def _clip(name: str) -> np.ndarray:
    return decode(DATA / name)


def _samples(part: Part) -> np.ndarray:
    audio = _clip(part.clip)
    end = len(audio) if part.end is None else int(part.end * WHISPER_RATE)
    return audio[int(part.start * WHISPER_RATE) : end]


def conversation(spec: Spec | str) -> Conversation:
    """The conversation `spec` describes (or the one named so in SPECS)."""
    if isinstance(spec, str):
        spec = SPECS[spec]
    pieces: list[np.ndarray] = []
    turns: list[Turn] = []
    at = 0
    gaps = itertools.cycle(spec.gaps)

    def silence(seconds: float) -> None:
        nonlocal at
        pieces.append(np.zeros(int(seconds * WHISPER_RATE), np.float32))
        at += len(pieces[-1])

    silence(spec.lead_s)
    for index, names in enumerate(spec.turns):
        parts = [PARTS[name] for name in names]
        if len({part.speaker for part in parts}) != 1:
            raise ValueError(f"turn {index} mixes speakers: {names}")
        if index:
            silence(next(gaps))
        start = at
        for number, part in enumerate(parts):
            if number:
                silence(WITHIN_TURN_PAUSE_S)
            pieces.append(_samples(part))
            at += len(pieces[-1])
        text = " ".join(part.text for part in parts)
        turns.append(Turn(start / WHISPER_RATE, at / WHISPER_RATE, parts[0].speaker, text))
    silence(spec.lead_s)
    return Conversation(np.concatenate(pieces), turns)
