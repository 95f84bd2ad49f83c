"""The one core both API surfaces call: validate, admit, run the engine off the loop."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from engines.audio_decode import AudioTooLong, UndecodableAudio, decode
from engines.audio_encode import FORMATS, AudioFormat, Encoder
from engines.loader import ModelLoader
from engines.registry import ModelEntry, Registry
from engines.sources import ModelSourceError
from engines.synthesizer import Synthesizer, VoiceSettings
from engines.transcriber import LANGUAGES, Segment, Transcriber, TranscriptInfo, TranscriptionOptions
from server.admission import Admission
from server.config import Settings
from server.errors import ApiError, bad_request, invalid
from server.threads import iterate_in_thread, run_blocking

MIN_SPEED, MAX_SPEED = 0.25, 4.0
T = TypeVar("T")


@dataclass(frozen=True)
class TranscribeRequest:
    model: str
    file: BinaryIO
    options: TranscriptionOptions


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = 1.0


@dataclass(frozen=True)
class Speech:
    format: AudioFormat
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class TranscriptStream:
    info: TranscriptInfo
    segments: AsyncIterator[Segment]


class Core:
    def __init__(self, settings: Settings, registry: Registry, loader: ModelLoader) -> None:
        self.settings = settings
        self.registry = registry
        self.loader = loader
        self.admissions = {
            slug: Admission(slug, self._concurrency(entry), entry.limits.max_queue, entry.limits.timeout_s)
            for slug, entry in registry.models.items()
        }

    # ------------------------------------------------------------ models

    def model(self, slug: str, task: str) -> ModelEntry:
        if not slug:
            raise ApiError(400, "missing_field", "'model' is required", "model")
        entry = self.registry.resolve(slug)
        if entry is None:
            raise ApiError(404, "model_not_found", f"The model '{slug}' does not exist", "model")
        if entry.task != task:
            raise bad_request("unsupported_model", f"'{slug}' is a {entry.task} model, not a {task} model", "model")
        return entry

    async def load_transcriber(self, entry: ModelEntry) -> Transcriber:
        return await self._load(lambda: self.loader.transcriber(entry), entry)

    async def load_synthesizer(self, voice: str, entry: ModelEntry) -> Synthesizer:
        return await self._load(lambda: self.loader.synthesizer(voice, entry), entry)

    async def _load(self, load: Callable[[], T], entry: ModelEntry) -> T:
        try:
            return await run_blocking(load)
        except (ModelSourceError, OSError, RuntimeError, ValueError) as exc:
            raise ApiError(503, "model_unavailable", f"{entry.slug} could not be loaded: {exc}", "model") from exc

    # ------------------------------------------------------------ transcription

    async def transcribe(self, request: TranscribeRequest) -> tuple[TranscriptInfo, list[Segment]]:
        transcriber, options = await self._prepare_transcription(request)
        ticket = await self.admissions[self._slug(request.model)].acquire()
        try:

            def work() -> tuple[TranscriptInfo, list[Segment]]:
                audio = self._decode(request.file)
                info, segments = transcriber.stream(audio, options)
                return info, list(segments)

            return await run_blocking(work)
        finally:
            ticket.release()

    async def transcribe_stream(self, request: TranscribeRequest) -> TranscriptStream:
        """Errors in the upload surface here, before the caller starts its response."""
        transcriber, options = await self._prepare_transcription(request)
        ticket = await self.admissions[self._slug(request.model)].acquire()
        try:
            audio = await run_blocking(lambda: self._decode(request.file))
            info, segments = await run_blocking(lambda: transcriber.stream(audio, options))
        except BaseException:
            ticket.release()
            raise

        def items(stop: threading.Event) -> Iterator[Segment]:
            return segments

        return TranscriptStream(info=info, segments=iterate_in_thread(items, ticket.release))

    async def _prepare_transcription(self, request: TranscribeRequest) -> tuple[Transcriber, TranscriptionOptions]:
        entry = self.model(request.model, "transcription")
        options = request.options
        if options.language is not None and options.language not in LANGUAGES:
            raise invalid("language", f"'{options.language}' is not an ISO-639-1 language code Whisper knows")
        transcriber = await self.load_transcriber(entry)
        if options.language is not None and not transcriber.supports(options.language):
            raise bad_request(
                "unsupported_language",
                f"'{entry.slug}' is English-only and cannot transcribe '{options.language}'; "
                "use a multilingual model such as whisper-1",
                "language",
            )
        if options.task == "translate" and not transcriber.multilingual:
            raise bad_request("unsupported_model", f"'{entry.slug}' is English-only and cannot translate", "model")
        return transcriber, options

    def _decode(self, file: BinaryIO):  # type: ignore[no-untyped-def]
        file.seek(0)
        try:
            return decode(file, self.settings.max_audio_seconds)
        except UndecodableAudio as exc:
            raise ApiError(
                415, "unsupported_audio", f"The file is not audio this server can decode: {exc}", "file"
            ) from exc
        except AudioTooLong as exc:
            raise bad_request("audio_too_long", f"The {exc}", "file") from exc

    # ------------------------------------------------------------ synthesis

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Everything that can fail is checked before the first byte is produced."""
        text = request.input
        if not text.strip():
            raise bad_request("empty_input", "'input' is empty; give the text to speak", "input")
        if len(text) > self.settings.max_input_chars:
            raise bad_request(
                "input_too_long",
                f"'input' has {len(text)} characters; the limit is {self.settings.max_input_chars}",
                "input",
            )
        audio_format = FORMATS.get(request.response_format)
        if audio_format is None:
            raise invalid("response_format", f"'response_format' must be one of {', '.join(FORMATS)}")
        if not MIN_SPEED <= request.speed <= MAX_SPEED:
            raise bad_request("speed_out_of_range", f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}", "speed")
        entry = self.model(request.model, "synthesis")
        mapping = self.registry.resolve_voice(request.voice)
        if mapping is None:
            names = ", ".join([*self.registry.voice_map, *self.registry.voices])
            raise bad_request("voice_not_found", f"Unknown voice '{request.voice}'; choose one of {names}", "voice")
        synthesizer = await self.load_synthesizer(mapping.voice, entry)
        if mapping.speaker_id is not None and mapping.speaker_id >= synthesizer.num_speakers:
            raise bad_request("voice_not_found", f"voice '{request.voice}' names a missing speaker", "voice")
        settings = VoiceSettings(
            speaker_id=mapping.speaker_id,
            length_scale=mapping.length_scale,
            noise_scale=mapping.noise_scale,
            noise_w_scale=mapping.noise_w_scale,
        )
        ticket = await self.admissions[entry.slug].acquire()
        chunks = iterate_in_thread(
            lambda stop: _speak(synthesizer, text, settings, request.speed, audio_format.name, stop),
            ticket.release,
        )
        return Speech(format=audio_format, chunks=chunks)

    # ------------------------------------------------------------ helpers

    def _slug(self, slug: str) -> str:
        return self.registry.aliases.get(slug, slug)

    def _concurrency(self, entry: ModelEntry) -> int:
        if entry.limits.concurrency:
            return entry.limits.concurrency
        on_gpu = entry.device == "cuda" or (entry.device == "auto" and self.loader.has_cuda)
        if entry.task == "transcription":
            return 4 if on_gpu else 1
        return 8 if on_gpu else 2


def _speak(
    synthesizer: Synthesizer,
    text: str,
    settings: VoiceSettings,
    speed: float,
    format_name: str,
    stop: threading.Event,
) -> Iterator[bytes]:
    encoder = Encoder(format_name, synthesizer.sample_rate)
    for sentence in synthesizer.sentences(text):
        if stop.is_set():
            return
        data = encoder.push(synthesizer.render(sentence, settings, speed))
        if data:
            yield data
    tail = encoder.finish()
    if tail:
        yield tail
