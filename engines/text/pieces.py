"""Text planned into pieces, the same way for every engine: sentences with their pauses, a long first one split."""

from __future__ import annotations

import re
from collections.abc import Callable

from engines.base import Pauses, Piece

PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
QUICK_START_UNITS = 20
"""About three words of phonemes: a first sentence longer than twice this is split at its first clause break."""
CLAUSE_BREAKS = frozenset({",", ";", ":", "—", "–"})


def plan(
    text: str, sentences: Callable[[str], list[list[str]]], pauses: Pauses | None = None, quick_start: bool = True
) -> list[Piece]:
    """The text's sentences as an engine's units (`sentences` makes them, a paragraph at a time), each
    with the silence that follows it: a sentence pause, a longer one at a paragraph break (a blank
    line), none after the last. Empty sentences are dropped.

    With `quick_start`, a long first sentence is split at its first clause punctuation (never inside a
    clause), so that the first audio is ready sooner; a sentence with no clause break stays whole.
    """
    pauses = pauses or Pauses()
    found: list[Piece] = []
    for paragraph in (p for p in PARAGRAPH_BREAK.split(text) if p.strip()):
        found += [Piece(s, pauses.sentence_s) for s in sentences(paragraph) if s]
        if found:
            found[-1] = Piece(found[-1].units, pauses.paragraph_s)
    if not found:
        return []
    found[-1] = Piece(found[-1].units, 0.0)
    if quick_start:
        first = first_clause(found[0].units)
        if len(first) == 2:
            found[:1] = [Piece(first[0], 0.0), Piece(first[1], found[0].pause_after_s)]
    return found


def first_clause(units: list[str]) -> list[list[str]]:
    """A long first sentence, split after its first clause (at , ; : or a dash) when that clause is
    neither tiny nor most of the sentence; otherwise the sentence whole. Never at a plain word
    boundary: each piece is spoken with its own intonation, and a cut mid-clause sounds broken.

    Under load every stream's first piece is rendered before anyone's second (the gate's order),
    which is what keeps first bytes quick for all of them.
    """
    if len(units) <= 2 * QUICK_START_UNITS:
        return [units]
    limit = len(units) - QUICK_START_UNITS // 2
    cut = next((i for i in range(QUICK_START_UNITS // 2, limit) if units[i] in CLAUSE_BREAKS), None)
    if cut is None:
        return [units]
    return [units[: cut + 1], units[cut + 1 :]]
