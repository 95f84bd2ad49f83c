"""Synthesis on the core: every check before the first byte, text prepared off the loop, then the speech job."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace

import anyio

from engines.audio.encode import FORMATS, Bitrates
from engines.base import Pauses, Piece, SpeechSettings
from engines.text.normalize import normalize
from engines.text.speakable import speakable
from server import requestlog
from server.cancel import Cancellation
from server.core.gate import PriorityGate
from server.core.languages import for_language
from server.core.models import Models
from server.core.requests import Speech, SpeechRequest
from server.core.speech import SpeechJob
from server.errors import bad_request, invalid, quoted
from server.threads import iterate_in_thread, run_blocking

MIN_SPEED, MAX_SPEED = 0.25, 4.0


class Synthesis:
    def __init__(self, models: Models, threads: anyio.CapacityLimiter) -> None:
        self.models = models
        settings = models.settings
        self._pauses = Pauses(settings.sentence_pause_s, settings.paragraph_pause_s)
        self._bitrates = Bitrates(settings.mp3_kbps, settings.opus_kbps, settings.aac_kbps)
        # One gate per device: every voice on the CPU shares the same cores.
        self._render_gates = {"cpu": PriorityGate(1), "cuda": PriorityGate(4)}
        self._threads = threads

    async def synthesize(self, request: SpeechRequest, cancel: Cancellation) -> Speech:
        """Everything that can fail is checked before the first byte is produced."""
        requested = time.perf_counter()
        models, settings = self.models, self.models.settings
        text = request.input
        if not text.strip():
            raise bad_request("empty_input", "'input' is empty; give the text to speak", "input")
        if len(text) > settings.max_input_chars:
            raise bad_request(
                "input_too_long",
                f"'input' has {len(text)} characters; the limit is {settings.max_input_chars}",
                "input",
            )
        audio_format = FORMATS.get(request.response_format)
        if audio_format is None:
            raise invalid("response_format", f"'response_format' must be one of {', '.join(FORMATS)}")
        if not MIN_SPEED <= request.speed <= MAX_SPEED:
            raise bad_request("speed_out_of_range", f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}", "speed")
        entry = models.model(request.model, "synthesis")
        cancel.limit(entry.limits.timeout_s)
        mapping = models.served.voice(request.voice)
        if mapping is None:
            names = ", ".join(models.served.voice_names())
            known = request.voice in models.registry.voice_map or request.voice in models.registry.voices
            why = (
                f"The voice {quoted(request.voice)} is not installed here "
                f"(`python -m server models pull {request.voice}` installs it)"
                if known
                else f"Unknown voice {quoted(request.voice)}"
            )
            raise bad_request("voice_not_found", f"{why}; choose one of {names}", "voice")
        mapping = for_language(models.served, mapping, request.voice, text, request.language)
        synthesizer = await models.synthesizer(mapping.voice, entry)
        voice = synthesizer.info
        if request.speaker is not None:
            mapping = replace(mapping, speaker_id=_speaker_id(voice.speakers, request.speaker, request.voice))
        if mapping.speaker_id is not None and mapping.speaker_id >= voice.num_speakers:
            raise bad_request("voice_not_found", f"voice {quoted(request.voice)} names a missing speaker", "voice")
        normalizing = settings.normalize_text if request.normalize is None else request.normalize

        def prepare() -> list[Piece]:
            # Cleaning, spelling out and phonemizing up to 4096 characters: one hop off the event loop.
            spoken = speakable(text)
            if normalizing:
                spoken = normalize(spoken, voice.language, read_emoji=request.read_emoji)
            return synthesizer.pieces(spoken, self._pauses)

        pieces = await run_blocking(prepare)
        if not pieces:
            raise bad_request("empty_input", "'input' has nothing to speak (only punctuation or symbols)", "input")
        job = SpeechJob(
            synthesizer=synthesizer,
            pieces=pieces,
            settings=SpeechSettings(
                speaker_id=mapping.speaker_id,
                length_scale=mapping.length_scale,
                noise_scale=mapping.noise_scale,
                noise_w_scale=mapping.noise_w_scale,
            ),
            speed=request.speed,
            format_name=audio_format.name,
            bitrates=self._bitrates,
            gate=self._render_gates[models.loader.synthesis_device(entry)],
            cancel=cancel,
            in_use=models.loader.in_use,
        )
        ticket = await models.admit(entry, cancel)

        def finished() -> None:
            ticket.release()
            models.metrics.processed(entry.slug, "synthesis", job.audio_seconds, time.perf_counter() - requested)

        chunks = iterate_in_thread(job.run, finished, self._threads)
        return Speech(format=audio_format, chunks=self._observed(chunks, job, entry.slug, requested))

    async def _observed(
        self, chunks: AsyncIterator[bytes], job: SpeechJob, slug: str, started: float
    ) -> AsyncIterator[bytes]:
        """Times the first byte, and tells the request's log line how much audio was sent."""
        record = requestlog.current()
        first = True
        try:
            async for chunk in chunks:
                if first:
                    self.models.metrics.first_byte.labels(model=slug).observe(time.perf_counter() - started)
                    first = False
                yield chunk
        finally:
            if record is not None:
                record.audio_seconds = round(job.audio_seconds, 3)


def _speaker_id(speakers: Mapping[str, int], speaker: str, voice: str) -> int:
    """A speaker by its name in the voice's speaker map, or by its number."""
    if speaker in speakers:
        return speakers[speaker]
    if speaker.isdigit():
        return int(speaker)
    raise bad_request("voice_not_found", f"The voice {quoted(voice)} has no speaker {quoted(speaker)}", "voice")
