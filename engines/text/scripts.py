"""Which languages can read a text aloud, by the scripts it is written in: kana is Japanese, hangul Korean."""

from __future__ import annotations

import unicodedata

# Unicode names a letter's script first ("HIRAGANA LETTER A", "CJK UNIFIED IDEOGRAPH-4E00").
_SCRIPTS: dict[str, frozenset[str]] = {
    "HIRAGANA": frozenset({"ja"}),
    "KATAKANA": frozenset({"ja"}),
    "CJK": frozenset({"ja", "zh"}),
    "HANGUL": frozenset({"ko"}),
    "CYRILLIC": frozenset({"ru", "uk", "bg", "sr", "mk", "be", "kk", "ky", "mn"}),
    "GREEK": frozenset({"el"}),
    "ARABIC": frozenset({"ar", "fa", "ur"}),
    "HEBREW": frozenset({"he", "yi"}),
    "DEVANAGARI": frozenset({"hi", "mr", "ne"}),
    "THAI": frozenset({"th"}),
    "GEORGIAN": frozenset({"ka"}),
    "ARMENIAN": frozenset({"hy"}),
}
"""Scripts that only some languages write, and those languages; Latin letters any voice can try."""
_NAMES = {"ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ru": "Russian", "el": "Greek", "ar": "Arabic"}


def readers(text: str) -> frozenset[str] | None:
    """The languages (ISO 639-1) whose voices can read every letter of `text`, or None when any can
    (Latin letters, digits and symbols only). Text mixing two such scripts, kana and hangul, has none."""
    found: frozenset[str] | None = None
    for char in text:
        if char.isascii() or not char.isalpha():
            continue
        words = unicodedata.name(char, "").split(" ")
        if words[0] in ("HALFWIDTH", "FULLWIDTH"):
            words = words[1:]
        languages = _SCRIPTS.get(words[0].split("-")[0]) if words else None
        if languages is not None:
            # Kana with kanji is Japanese, not Chinese: each letter narrows the choice.
            found = languages if found is None else found & languages
    return found


def reads(language: str, text: str) -> bool:
    """Whether a voice speaking `language` (BCP 47: en-us, ja) can read `text` aloud."""
    needed = readers(text)
    return needed is None or primary(language) in needed


def primary(language: str) -> str:
    """The language without its region: `en` of `en-us`, `ja` of `ja-JP`."""
    return language.lower().replace("_", "-").split("-")[0]


def written_in(text: str) -> str:
    """What a text's letters are, in words, for messages: "Japanese", "Japanese or Chinese"."""
    needed = readers(text)
    if needed is None:
        return "Latin letters"
    if not needed:
        return "letters of more than one script"
    named = sorted(needed, key=lambda code: (code not in _NAMES, code))
    words = [_NAMES.get(code, code) for code in named[:2]]
    return " or ".join(words) if len(named) <= 2 else f"{words[0]} or another language of its script"
