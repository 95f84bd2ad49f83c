"""Whisper's checks on one decoding of a chunk, and what they say to do next: keep it, decode
it again hotter, read it again with timestamp tokens, or take it for noise."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Whisper's own thresholds (the reference implementation's defaults, and faster-whisper's).
COMPRESSION_RATIO_MAX = 2.4
LOG_PROB_MIN = -1.0
NO_SPEECH_MIN = 0.6
UNSURE_LOG_PROB = -0.6
"""Between this and Whisper's -1, a decoding without timestamp tokens may have ended before the
speech did (measured: 2x-speed speech lost its last three words at -0.72, and with timestamp
tokens the same chunk came out whole at -0.37). Such a chunk is decoded once more with them and
keeps the likelier reading. Speech in the dev clips and the other 109 of 110 synthesized sentences
decoded at -0.52 and above."""
NOISE_NO_SPEECH = 0.3
"""A no-speech probability that, with a failed decoding, marks noise (the dev clips' speech stays
under 0.1; noise that VAD let through came out at 0.2 to 0.8)."""


@dataclass
class Attempt:
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


def failed(avg_logprob: float, compression_ratio: float) -> bool:
    """Whisper's test for a failed decoding: too repetitive, or too unsure of itself."""
    return compression_ratio > COMPRESSION_RATIO_MAX or avg_logprob < LOG_PROB_MIN


def needs_fallback(attempt: Attempt) -> bool:
    """A failed decoding is tried again hotter, unless Whisper also doubts that there is speech:
    then it is noise, and hotter temperatures only make up other words (slowly: a loop runs to
    the token limit, at every temperature)."""
    return failed(attempt.avg_logprob, attempt.compression_ratio) and attempt.no_speech_prob <= NOISE_NO_SPEECH


def unsure(attempt: Attempt) -> bool:
    """Passed Whisper's checks only just, at temperature 0, on what Whisper takes for speech."""
    return (
        attempt.temperature == 0
        and LOG_PROB_MIN <= attempt.avg_logprob < UNSURE_LOG_PROB
        and attempt.compression_ratio <= COMPRESSION_RATIO_MAX
        and attempt.no_speech_prob <= NOISE_NO_SPEECH
    )


def likeliest(attempts: list[Attempt]) -> Attempt:
    """After every temperature failed: the most likely one that is not a loop, as Whisper picks."""
    unlooped = [a for a in attempts if a.compression_ratio <= COMPRESSION_RATIO_MAX]
    chosen = max(unlooped or attempts, key=lambda a: a.avg_logprob)
    return replace(chosen, temperature=attempts[-1].temperature)
