"""The noise guard: dropping text that Whisper's own signals say is not speech."""

from __future__ import annotations

import re

from faster_whisper.transcribe import Segment as FwSegment

from engines.whisper.checks import LOG_PROB_MIN, NO_SPEECH_MIN, NOISE_NO_SPEECH, failed


def hallucinated(segment: FwSegment) -> bool:
    """Text that Whisper's own signals say is not speech (see `invented`)."""
    return invented(
        segment.text,
        segment.avg_logprob,
        segment.compression_ratio,
        segment.no_speech_prob,
        segment.temperature or 0.0,
    )


def invented(
    text: str, avg_logprob: float, compression_ratio: float, no_speech_prob: float, temperature: float
) -> bool:
    """Text that Whisper's own signals say is not speech.

    VAD keeps most noise from Whisper, but not all of it (crowds, traffic, breathing), and there
    the decoder invents: "Thank you.", a phrase or a letter repeated until the tokens run out.
    Speech in the dev clips decodes at the first temperature with a no-speech probability under
    0.1 and an average log-probability over -0.6; what is dropped here is far from that:
    - what Whisper itself calls silence (likely no speech, and an unsure decoding);
    - a decoding that failed Whisper's checks where Whisper also doubts there is speech, or
      that was still unsure at the last temperature;
    - an unsure decoding where Whisper thinks no speech more likely than not;
    - loops.
    """
    # A compression ratio over Whisper's line alone is no proof: a chunk can hold a sentence said
    # twice. It counts where Whisper also doubts the speech; loops are found in the text itself.
    if no_speech_prob > NO_SPEECH_MIN and avg_logprob < LOG_PROB_MIN:
        return True
    if failed(avg_logprob, compression_ratio) and no_speech_prob > NOISE_NO_SPEECH:
        return True
    if avg_logprob < LOG_PROB_MIN and temperature >= 1.0:
        return True
    if no_speech_prob > 0.5 and avg_logprob < DOUBTFUL_LOG_PROB:
        return True
    return looping(text)


DOUBTFUL_LOG_PROB = -0.5


_RUN = re.compile(r"(\w)\1{5,}|([^\w\s])\2{3,}")
_REPEATED_PHRASE = re.compile(r"\b(.{2,60}?\W+)\1{3,}", re.DOTALL)


def looping(text: str) -> bool:
    """A letter six times or more in a row ("Aaaaaah"), a mark four times ("!!!!"), or a phrase
    said four times over that makes up most of the text: loops too short for the compression
    ratio to notice."""
    if _RUN.search(text):
        return True
    spoken = text.lower().strip() + " "
    loop = _REPEATED_PHRASE.search(spoken)
    return loop is not None and 2 * (loop.end() - loop.start()) >= len(spoken)
