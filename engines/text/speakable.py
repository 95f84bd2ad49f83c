"""Text made safe for the phonemizer: what espeak-ng cannot take is removed before it sees it."""

from __future__ import annotations

import unicodedata

# Lone surrogates cannot be encoded for espeak at all; private-use code points and invisible format
# characters (bidi marks, zero-width joiners) carry nothing that can be spoken.
_DROPPED = frozenset(("Cs", "Co", "Cf"))


def speakable(text: str) -> str:
    """`text` with control characters (NUL stops espeak with "embedded null character") turned into
    spaces, and the characters in `_DROPPED` removed. Newlines and tabs stay as they are."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and char not in "\n\t":
            kept.append(" ")
        elif category not in _DROPPED:
            kept.append(char)
    return "".join(kept)
