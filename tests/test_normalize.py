"""Text as it is read aloud: markup, links, emoji, and English numbers and symbols spelled out."""

from __future__ import annotations

import pytest

from engines.text.normalize import cardinal, normalize, ordinal

CASES = [
    ("# Quarterly **results**", "Quarterly results."),
    ("- first item\n- second item", "first item.\nsecond item."),
    ("1. Open the *box*\n2. Take `the key`", "Open the box.\nTake the key."),
    ("> quoted words here", "quoted words here"),
    ("Read [the guide](https://example.com/guide) now.", "Read the guide now."),
    ("<speak>Hello <break time='1s'/> world</speak>", "Hello, world"),
    ("<b>Bold</b> and <i>italic</i>.", "Bold and italic."),
    ("See https://docs.example.com/setup-guide?x=1 today.", "See docs dot example dot com slash setup guide today."),
    ("Write to jane.doe@example.org please.", "Write to jane dot doe at example dot org please."),
    ("Done 😀🎉 now.", "Done now."),
    ("It costs $5.50 today.", "It costs 5 dollars 50 cents today."),
    ("Only $1 and €3 and £2.50.", "Only 1 dollar and 3 euros and 2 pounds 50 pence."),
    ("A $2.5 million deal.", "A 2.5 million dollars deal."),
    ("Meet at 3:30 pm.", "Meet at 3 30 P M."),
    ("Meet at 7:05 a.m. sharp.", "Meet at 7 oh 5 A M sharp."),
    ("At 10:00 we start.", "At 10 o'clock we start."),
    ("Due 2026-11-25.", "Due November twenty-fifth, 2026."),
    ("Due 25 Nov, then Dec 3rd.", "Due the twenty-fifth of November, then December third."),
    ("It is 5 km away and 20 °C.", "It is 5 kilometers away and 20 degrees Celsius."),
    ("Only 1 kg and 50% off.", "Only 1 kilogram and 50 percent off."),
    ("The 21st and the 3rd floor.", "The twenty-first and the third floor."),
    (
        "Dr. Smith met Mr. Jones on Main St. near St. Louis.",
        "Doctor Smith met Mister Jones on Main Street near Saint Louis.",
    ),
    ("Fruit, e.g. apples, vs. nuts, etc.", "Fruit, for example apples, versus nuts, et cetera"),
    ("There were 1,250 people.", "There were 1250 people."),
    ("Salt & pepper.", "Salt and pepper."),
    ("Mark the date.", "Mark the date."),
]


@pytest.mark.parametrize(("text", "spoken"), CASES, ids=[c[0][:30] for c in CASES])
def test_english_is_spelled_out(text: str, spoken: str) -> None:
    assert normalize(text, "en-us") == spoken


def test_emoji_are_read_when_asked() -> None:
    assert normalize("Yes 😀", read_emoji=True) == "Yes grinning face"


def test_other_languages_get_only_the_markup_passes() -> None:
    assert normalize("**Preis** 5 km am 25 Nov", "de") == "Preis 5 km am 25 Nov"


@pytest.mark.parametrize(
    ("number", "words", "nth"),
    [
        (1, "one", "first"),
        (12, "twelve", "twelfth"),
        (40, "forty", "fortieth"),
        (101, "one hundred one", "one hundred first"),
        (2026, "two thousand twenty-six", "two thousand twenty-sixth"),
    ],
)
def test_numbers_in_words(number: int, words: str, nth: str) -> None:
    assert cardinal(number) == words and ordinal(number) == nth
