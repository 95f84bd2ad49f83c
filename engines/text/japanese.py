"""Japanese text as it is read aloud: the symbols and number forms pyopenjtalk would drop or misread, in words.

pyopenjtalk reads numbers, dates and counters itself (2024年3月15日, 1500円); what it leaves out are the
signs around them: ¥1,500 loses the yen and splits at the comma, 25℃ loses the degrees, 3.14 the point.
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = "〇一二三四五六七八九"
_GROUPED = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CURRENCY_BEFORE = re.compile(r"([¥$€£])\s?(\d+(?:\.\d+)?)")
_CURRENCY_WORDS = {"¥": "円", "$": "ドル", "€": "ユーロ", "£": "ポンド"}
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
_TIME = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?!\d)")
_SIGNS = [
    (re.compile(r"(\d)\s?%"), r"\1パーセント"),
    (re.compile(r"(\d)\s?°C"), r"\1度"),
    (re.compile(r"(\d)\s?°"), r"\1度"),
    (re.compile(r"(\d)\s?km(?![A-Za-z])"), r"\1キロメートル"),
    (re.compile(r"(\d)\s?kg(?![A-Za-z])"), r"\1キログラム"),
    (re.compile(r"(\d)\s?cm(?![A-Za-z])"), r"\1センチメートル"),
    (re.compile(r"(\d)\s?mm(?![A-Za-z])"), r"\1ミリメートル"),
    (re.compile(r"(\d)\s?m(?![A-Za-z])"), r"\1メートル"),
    (re.compile(r"(\d)\s?g(?![A-Za-z])"), r"\1グラム"),
]


def japanese(text: str) -> str:
    """`text` with full-width forms made plain (NFKC: full-width digits are ASCII, ℃ is °C), grouped digits joined, and
    currency, percent, degrees, metric units, times and decimals written as they are read."""
    text = unicodedata.normalize("NFKC", text)
    text = _GROUPED.sub("", text)
    text = _CURRENCY_BEFORE.sub(lambda m: f"{m.group(2)}{_CURRENCY_WORDS[m.group(1)]}", text)
    text = _TIME.sub(lambda m: f"{int(m.group(1))}時" + (f"{int(m.group(2))}分" if int(m.group(2)) else ""), text)
    for pattern, spoken in _SIGNS:
        text = pattern.sub(spoken, text)
    # After the currencies and units, which keep their decimals: the digits after a point are read one by one.
    return _DECIMAL.sub(lambda m: f"{m.group(1)}点{''.join(_DIGITS[int(d)] for d in m.group(2))}", text)
