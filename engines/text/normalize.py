"""Text as it should be read aloud: markup removed, links and symbols spelled out, before phonemes.

The markup, link and emoji passes hold for every language; the spelling-out of currency, times, dates,
units, ordinals and abbreviations is English, and other languages get their own pass beside it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from engines.text.japanese import japanese
from engines.text.scripts import primary

# ---------------------------------------------------------------- every language

_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_BREAK_TAG = re.compile(r"<break\b[^<>]*/?>", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+(.+)$", re.MULTILINE)
_QUOTE = re.compile(r"^\s*>+\s?", re.MULTILINE)
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_CODE = re.compile(r"`([^`]+)`")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}.*$", re.MULTILINE)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_SPACES = re.compile(r"[ \t]+")
_LOOSE_PUNCTUATION = re.compile(r"[ \t]+([,.;:!?])")


def normalize(text: str, language: str = "en", read_emoji: bool = False) -> str:
    """`text` ready for the phonemizer of a voice speaking `language` (an espeak or BCP 47 code)."""
    text = _markup(text)
    text = _URL.sub(lambda m: _spoken_url(m.group(0)), text)
    text = _EMAIL.sub(lambda m: f"{_dotted(m.group(1))} at {_dotted(m.group(2))}", text)
    spell = _LANGUAGES.get(primary(language))
    if spell is not None:
        text = spell(text)
    # After the spelling-out, which reads symbols such as the degree sign.
    text = _emoji(text, read_emoji)
    text = _LOOSE_PUNCTUATION.sub(r"\1", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def _markup(text: str) -> str:
    text = _BREAK_TAG.sub(", ", text)
    text = _TAG.sub(" ", text)
    text = _FENCE.sub("", text)
    text = _RULE.sub("", text)
    text = _TABLE_RULE.sub("", text)
    # A heading or a list item is read as a sentence of its own.
    text = _HEADING.sub(lambda m: _sentence(m.group(1)), text)
    text = _BULLET.sub(lambda m: _sentence(m.group(1)), text)
    text = _QUOTE.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    for _ in range(2):  # **bold _italic_** nests once
        text = _EMPHASIS.sub(r"\2", text)
    text = _CODE.sub(r"\1", text)
    return re.sub(r"\s*\|\s*", ", ", text.strip("|")) if "|" in text else text


def _sentence(line: str) -> str:
    line = line.strip()
    return line if line[-1:] in ".!?:;" else line + "."


def _dotted(part: str) -> str:
    return " dot ".join(p for p in part.split(".") if p)


def _spoken_url(url: str) -> str:
    url = url.rstrip(".,;:!?")
    url = re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE)
    host, _, path = url.partition("/")
    path = path.split("?")[0].split("#")[0].strip("/")
    spoken = _dotted(host)
    if path:
        spoken += " slash " + " slash ".join(_dotted(p.replace("-", " ").replace("_", " ")) for p in path.split("/"))
    return spoken


def _emoji(text: str, read: bool) -> str:
    out = []
    for char in text:
        if unicodedata.category(char) == "So" or char in "\ufe0f\u200d" or 0x1F3FB <= ord(char) <= 0x1F3FF:
            if read and unicodedata.category(char) == "So":
                out.append(f" {unicodedata.name(char, '').lower()} ")
            continue
        out.append(char)
    return "".join(out)


# ---------------------------------------------------------------- English

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH = {m.lower(): m for m in MONTHS} | {m[:3].lower(): m for m in MONTHS} | {"sept": "September"}
_MONTH_WORD = "(" + "|".join(sorted(_MONTH, key=len, reverse=True)) + r")\.?"
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "mi": ("mile", "miles"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "ml": ("milliliter", "milliliters"),
    "l": ("liter", "liters"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "kB": ("kilobyte", "kilobytes"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "kW": ("kilowatt", "kilowatts"),
    "ms": ("millisecond", "milliseconds"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "%": ("percent", "percent"),
}
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
}
_ABBREVIATIONS = [
    (r"\bDr\.(?=\s+[A-Z])", "Doctor"),
    (r"\bSt\.(?=\s+[A-Z])", "Saint"),
    (r"(?<=[a-z] )St\.", "Street"),
    (r"\bMr\.", "Mister"),
    (r"\bMrs\.", "Missus"),
    (r"\bMs\.", "Miz"),
    (r"\bProf\.", "Professor"),
    (r"\bJr\.", "Junior"),
    (r"\bSr\.", "Senior"),
    (r"\bMt\.", "Mount"),
    (r"\bAve\.", "Avenue"),
    (r"\betc\.", "et cetera"),
    (r"\be\.g\.", "for example"),
    (r"\bi\.e\.", "that is"),
    (r"\bvs\.", "versus"),
    (r"\bapprox\.", "approximately"),
    (r"\bNo\.(?=\s*\d)", "number"),
]


def cardinal(number: int) -> str:
    """0 to 999,999,999 in words."""
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    for size, name in ((1_000_000, "million"), (1000, "thousand"), (100, "hundred")):
        if number >= size:
            high, rest = divmod(number, size)
            return f"{cardinal(high)} {name}" + (f" {cardinal(rest)}" if rest else "")
    raise ValueError(number)


def ordinal(number: int) -> str:
    words = cardinal(number)
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    last = _ORDINAL_WORDS.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return head + sep + last


def _plural(amount: str, one: str, many: str) -> str:
    return one if amount.replace(",", "") in ("1", "1.0") else many


def _money(match: re.Match[str]) -> str:
    one, many, cent, cents = _CURRENCIES[match.group(1)]
    whole, fraction, scale = match.group(2), match.group(3), match.group(4)
    if scale:
        return f"{whole}{'.' + fraction if fraction else ''} {scale} {many}"
    spoken = f"{whole} {_plural(whole, one, many)}"
    if fraction and int(fraction):
        spoken += f" {int(fraction)} {_plural(str(int(fraction)), cent, cents)}"
    return spoken


def _time(match: re.Match[str]) -> str:
    hour, minute, half = int(match.group(1)), int(match.group(2)), match.group(3)
    minutes = "o'clock" if minute == 0 else (f"oh {minute}" if minute < 10 else str(minute))
    return f"{hour} {minutes}" + (f" {half[0].upper()} M" if half else "")


def _iso_date(match: re.Match[str]) -> str:
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return f"{MONTHS[month - 1]} {ordinal(day)}, {year}"


def _unit(match: re.Match[str]) -> str:
    amount, unit = match.group(1), match.group(2)
    one, many = _UNITS[unit]
    return f"{amount} {_plural(amount, one, many)}"


_UNIT_PATTERN = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"([$€£])\s?(\d[\d,]*)(?:\.(\d+))?(?:\s?(thousand|million|billion|trillion)\b)?"), _money),
    (re.compile(r"\b(\d{1,2}):(\d{2})\s*([ap])\.?\s?m\b(?:\.(?=\s+(?-i:[a-z])))?", re.IGNORECASE), _time),
    (re.compile(r"\b(\d{1,2}):(\d{2})()(?![:\d])"), _time),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), _iso_date),
    (
        re.compile(r"\b(\d{1,2})\s+" + _MONTH_WORD + r"(?![A-Za-z])", re.IGNORECASE),
        lambda m: f"the {ordinal(int(m.group(1)))} of {_MONTH[m.group(2).lower()]}",
    ),
    (
        re.compile(r"\b" + _MONTH_WORD + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b", re.IGNORECASE),
        lambda m: f"{_MONTH[m.group(1).lower()]} {ordinal(int(m.group(2)))}",
    ),
    (re.compile(r"(\d+(?:\.\d+)?)\s?(" + _UNIT_PATTERN + r")(?![A-Za-z])"), _unit),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b"), lambda m: ordinal(int(m.group(1)))),
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), ""),
    (re.compile(r"&"), " and "),
]


def english(text: str) -> str:
    for pattern, replacement in _ABBREVIATIONS:
        text = re.sub(pattern, replacement, text)
    for rule, spoken in _RULES:
        text = rule.sub(spoken, text)
    return text


_LANGUAGES: dict[str, Callable[[str], str]] = {"en": english, "ja": japanese}
"""The spelling-out pass for each language; a language without one keeps only the markup passes."""
