"""The embedded voices through the real server: each understood by Whisper base in its own language, and the
OpenAI names sounding as they are described (the feminine ones pitched well above the masculine ones)."""

from __future__ import annotations

import io
import re
import statistics
import unicodedata

import httpx
import pytest
import soundfile as sf
from audio_tools import median_f0
from wer import edits, wer

from engines.models.registry_files import load_registry
from server.config import PROJECT_ROOT

pytestmark = pytest.mark.models

ENGLISH = "The children played in the park all afternoon. Can you hear the music from here?"
JAPANESE = "駅までは歩いて十分です。"
# Whisper base, English: joe and heart were measured at 0.00; Japanese, by characters: 0.00 to 0.05.
MAX_WER, MAX_CER = 0.2, 0.15
SENTENCES = {"en": ENGLISH, "ja": JAPANESE}
EMBEDDED = {
    name: voice.speaks.split("-")[0]
    for name, voice in load_registry(PROJECT_ROOT / "models.toml").voices.items()
    if voice.source.files  # shipped inside a package: installed by default
}
FEMININE = ("alloy", "nova", "shimmer", "coral", "sage", "marin")
MASCULINE = ("echo", "onyx", "ash", "ballad", "verse", "cedar", "fable")


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate, punctuation and spacing aside: Japanese has no words to count."""

    def letters(text: str) -> str:
        return re.sub(r"[\W_]", "", unicodedata.normalize("NFKC", text).lower())

    ref = letters(reference)
    return edits(ref, letters(hypothesis)) / max(1, len(ref))


def speak(client: httpx.Client, voice: str, text: str) -> bytes:
    body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "wav"}
    response = client.post("/v1/inference/audio/synthesize", json=body)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("voice", list(EMBEDDED))
def test_every_embedded_voice_is_understood_in_its_language(client: httpx.Client, voice: str) -> None:
    language = EMBEDDED[voice]
    text = SENTENCES[language]  # a voice in a language with no sentence here needs one
    heard = client.post(
        "/v1/inference/audio/transcribe",
        data={"model": "whisper-1", "language": language},
        files={"file": ("speech.wav", speak(client, voice, text))},
    ).json()["data"]["text"]
    error = cer(text, heard) if language == "ja" else wer(text, heard)
    print(f"{voice}: {'CER' if language == 'ja' else 'WER'} {error:.3f} ({heard})")
    assert error <= (MAX_CER if language == "ja" else MAX_WER), heard


def test_feminine_names_sound_far_higher_than_masculine_ones(client: httpx.Client) -> None:
    pitches = {}
    for name in (*FEMININE, *MASCULINE):
        audio, rate = sf.read(io.BytesIO(speak(client, name, "Testing the pitch of this voice.")), dtype="float32")
        pitches[name] = median_f0(audio, rate)
    print(", ".join(f"{name} {hz:.0f} Hz" for name, hz in pitches.items()))
    highest_man = max(pitches[name] for name in MASCULINE)
    lowest_woman = min(pitches[name] for name in FEMININE)
    # Every woman's voice above every man's, and the medians an octave or so apart (measured 197 and 97 Hz).
    assert lowest_woman > 1.3 * highest_man, pitches
    assert statistics.median(pitches[n] for n in FEMININE) > 1.6 * statistics.median(pitches[n] for n in MASCULINE)
