"""Speaker diarization as a step after transcription: who said each word, once the whole audio is heard."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

from engines.audio.decode import WHISPER_RATE, AudioTooLong, UndecodableAudio, decode
from engines.base import DiarizationOptions, Diarizer, KnownSpeaker, Segment, TranscriptInfo
from server.core.attribution import attribute
from server.core.models import Models
from server.core.requests import DiarizeRequest, TranscribeRequest
from server.core.transcription import StepWork
from server.errors import bad_request
from server.threads import run_blocking

REFERENCE_S = (2.0, 10.0)
"""How long a known speaker's clip must be, as OpenAI takes them."""
MOST_KNOWN = 4


class Diarize:
    """The `TranscriptStep` that tells speakers apart: segments come out cut where the speaker
    changes, each word and segment with its `speaker`."""

    def __init__(self, models: Models) -> None:
        self.models = models

    async def prepare(self, request: TranscribeRequest) -> StepWork | None:
        spec = request.diarization
        if spec is None:
            return None
        diarizer = await self.models.diarizer()
        if spec.references:
            known = spec.known + await run_blocking(lambda: known_speakers(diarizer, spec.references))
        else:
            known = spec.known
        options = DiarizationOptions(
            num_speakers=spec.num_speakers,
            min_speakers=spec.min_speakers,
            max_speakers=spec.max_speakers,
            known=known,
        )
        loader = self.models.loader

        def work(audio: np.ndarray, info: TranscriptInfo, segments: Iterator[Segment]) -> Iterator[Segment]:
            # Speakers are known only once the whole recording is heard: the transcript waits for them.
            # Diarizing first lets it run while the batcher decodes the chunks `stream` already queued.
            with loader.in_use(diarizer):
                diarization = diarizer.diarize(audio, options)
            heard = list(segments)
            if spec.heard is not None:
                spec.heard(diarization)
            yield from attribute(heard, diarization.turns)

        return work


def known_speakers(diarizer: Diarizer, references: tuple[tuple[str, bytes], ...]) -> tuple[KnownSpeaker, ...]:
    """Each known speaker's clip decoded, checked to be 2-10 s long, and made a voice print."""
    return tuple(
        KnownSpeaker(name, diarizer.voiceprint(_clip(name, index, data)))
        for index, (name, data) in enumerate(references)
    )


def check_speakers(spec: DiarizeRequest) -> None:
    """The counts and references make sense together (cheap: before the upload is decoded)."""
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        value = getattr(spec, name)
        if value is not None and not 1 <= value <= 32:
            raise bad_request("invalid_value", f"'{name}' must be between 1 and 32", name)
    low, high = spec.min_speakers, spec.max_speakers
    if low is not None and high is not None and low > high:
        raise bad_request("invalid_value", "'min_speakers' is more than 'max_speakers'", "min_speakers")
    if len(spec.references) > MOST_KNOWN:
        raise bad_request(
            "invalid_value", f"At most {MOST_KNOWN} known speakers can be given", "known_speaker_references"
        )
    names = [name for name, _ in spec.references]
    if len(set(names)) != len(names):
        raise bad_request("invalid_value", "'known_speaker_names' has a name twice", "known_speaker_names")


def _clip(name: str, index: int, data: bytes) -> np.ndarray:
    param = "known_speaker_references"
    try:
        audio = decode(io.BytesIO(data), REFERENCE_S[1] + 1)
        seconds = len(audio) / WHISPER_RATE
    except AudioTooLong:
        audio, seconds = np.zeros(0, np.float32), REFERENCE_S[1] + 1
    except UndecodableAudio as exc:
        raise bad_request(
            "invalid_value", f"The reference for {name!r} (item {index}) is not audio this server reads: {exc}", param
        ) from exc
    if not REFERENCE_S[0] <= seconds <= REFERENCE_S[1]:
        raise bad_request(
            "invalid_value",
            f"The reference for {name!r} (item {index}) is {seconds:.1f} s long"
            + (" or more; " if seconds > REFERENCE_S[1] else "; ")
            + f"references must be {REFERENCE_S[0]:g}-{REFERENCE_S[1]:g} s",
            param,
        )
    return audio
