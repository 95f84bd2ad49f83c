"""The Wyoming protocol beside HTTP, for Home Assistant: speech-to-text and text-to-speech on the same core,
models, admission control and metrics as the HTTP surfaces."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from engines.base import LANGUAGES, TranscriptionOptions
from engines.models.registry import ModelEntry
from server.cancel import Cancellation, ClientGone
from server.core import Core
from server.core.requests import Samples, SpeechRequest, TranscribeRequest
from server.errors import ApiError

log = logging.getLogger(__name__)
OUTPUT = {"rate": 24000, "width": 2, "channels": 1}
"""Speech goes out as the HTTP API's pcm: 24 kHz, 16-bit, mono."""
WHISPER = Attribution(name="OpenAI Whisper, run by faster-whisper", url="https://github.com/SYSTRAN/faster-whisper")
SENTENCE_END = (".", "!", "?", "\n")
FULL_STOPS = ("。", "！", "？")
"""Japanese (and Chinese) sentence ends: no space follows them."""


@dataclass
class Listener:
    """The Wyoming server and what it announces; `info` is built once, so `describe` answers at once."""

    core: Core
    uri: str
    idle_timeout_s: float = 300.0
    info: Info | None = None
    server: AsyncServer | None = None
    _zeroconf: object | None = field(default=None, repr=False)

    async def start(self, zeroconf: bool = False) -> None:
        self.info = await build_info(self.core)
        self.server = AsyncServer.from_uri(self.uri)
        await self.server.start(lambda reader, writer: WyomingHandler(reader, writer, self))
        log.info("Wyoming listening on %s", self.uri)
        if zeroconf:
            await self._announce()

    async def _announce(self) -> None:
        # Only on request: mDNS is network traffic, which the server otherwise never sends.
        from urllib.parse import urlparse

        from wyoming.zeroconf import HomeAssistantZeroconf

        parsed = urlparse(self.uri)
        announcer = HomeAssistantZeroconf(port=parsed.port or 10300, host=parsed.hostname or None)
        await announcer.register_server()
        self._zeroconf = announcer

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            with contextlib.suppress(AttributeError):
                self.server._server.close()  # type: ignore[attr-defined]


async def build_info(core: Core) -> Info:
    served = core.served
    models = [
        AsrModel(
            name=entry.slug,
            description=entry.description or entry.slug,
            attribution=WHISPER,
            installed=True,
            version=None,
            languages=["en"] if entry.english_only else sorted(LANGUAGES),
        )
        for entry in served.models("transcription")
        if entry.slug in served.installed.models
    ]
    synthesis = next(iter(served.models("synthesis")), None)
    voices: list[TtsVoice] = []
    if synthesis is not None:
        for name, mapping in served.voices():
            entry = core.registry.voices[mapping.voice]
            said = ", ".join(part for part in (mapping.voice if name != mapping.voice else "", entry.gender) if part)
            # A voice whose entry names its language is listed without loading it (the Japanese voices
            # load in seconds each); another is loaded to read its language and speakers.
            loaded = any(key.startswith(f"voice:{mapping.voice}:") for key in core.loader.loaded())
            if entry.language and not loaded:
                credit, language, speakers = Attribution(name=entry.engine, url=""), entry.language, {}
            else:
                engine = (await core.load_synthesizer(mapping.voice, synthesis)).info
                credit = Attribution(name=engine.made_by or engine.engine, url=engine.url)
                language, speakers = engine.language, dict(engine.speakers)
            voices.append(
                TtsVoice(
                    name=name,
                    description=f"{name} ({said})" if said else name,
                    attribution=credit,
                    installed=True,
                    version=None,
                    languages=[_language(language)],
                    speakers=[TtsVoiceSpeaker(name=s) for s in speakers]
                    if name == mapping.voice and speakers
                    else None,
                )
            )
    return Info(
        asr=[
            AsrProgram(
                name="audio-server",
                description="Whisper transcription (faster-whisper)",
                attribution=WHISPER,
                installed=True,
                version="0.1.0",
                models=models,
                supports_transcript_streaming=True,
            )
        ],
        tts=[
            TtsProgram(
                name="audio-server",
                description="Voices by their own names and by the OpenAI voice names",
                attribution=_credit(voices),
                installed=True,
                version="0.1.0",
                voices=voices,
                supports_synthesize_streaming=True,
            )
        ],
    )


def _credit(voices: list[TtsVoice]) -> Attribution:
    """The program is credited to the makers of its voices' engines, each named once."""
    makers = dict.fromkeys(voice.attribution.name for voice in voices)
    urls = [voice.attribution.url for voice in voices if voice.attribution.url]
    return Attribution(name=", ".join(makers) or "audio-server", url=urls[0] if urls else "")


def _matches(spoken: str, wanted: str) -> bool:
    """A voice speaking `en-us` answers for `en` and `en-us`, not for `en-gb`."""
    return spoken == wanted or spoken.split("-")[0] == wanted


def _language(espeak_voice: str) -> str:
    """espeak's `en-us` as Home Assistant names it: `en_US`."""
    lang, _, region = espeak_voice.partition("-")
    return f"{lang}_{region.upper()}" if region else lang


@dataclass
class _Audio:
    rate: int
    width: int
    channels: int
    data: bytearray = field(default_factory=bytearray)

    def samples(self) -> Samples:
        """The PCM as it came, channels last, for the core to convert in its worker thread."""
        kinds: dict[int, np.dtype[Any]] = {1: np.dtype("u1"), 2: np.dtype("<i2"), 4: np.dtype("<i4")}
        if self.width not in kinds or self.channels < 1:
            raise ApiError(400, "unsupported_audio", f"{self.width}-byte samples in {self.channels} channels")
        frames = len(self.data) // (self.width * self.channels)
        pcm = np.frombuffer(self.data, dtype=kinds[self.width], count=frames * self.channels)
        return Samples(audio=pcm.reshape(-1, self.channels), rate=self.rate)


class WyomingHandler(AsyncEventHandler):
    """One client connection: events in, events out; an error is an `error` event and the connection
    stays usable."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener) -> None:
        super().__init__(reader, writer)
        self.listener = listener
        self.core = listener.core
        self.transcribe = Transcribe()
        self.audio: _Audio | None = None
        self.streaming_tts: SynthesizeStart | None = None
        self.pending_text = ""
        self.tts_audio_started = False

    async def run(self) -> None:
        # As the package's loop, with an idle limit: a connection silent for that long is closed.
        try:
            while True:
                try:
                    event = await asyncio.wait_for(async_read_event(self.reader), self.listener.idle_timeout_s)
                except TimeoutError:
                    log.info("closing an idle Wyoming connection")
                    break
                if event is None or not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self.disconnect()
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._dispatch(event)
        except ApiError as error:
            await self.write_event(Error(text=error.message, code=error.code).event())
        except (ConnectionError, ClientGone):
            return False
        return True

    async def _dispatch(self, event: Event) -> None:
        if Describe.is_type(event.type):
            assert self.listener.info is not None
            await self.write_event(self.listener.info.event())
        elif Transcribe.is_type(event.type):
            self.transcribe = Transcribe.from_event(event)
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self.audio = _Audio(start.rate, start.width, start.channels)
        elif AudioChunk.is_type(event.type):
            self._add_audio(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            await self._transcribe()
        elif Synthesize.is_type(event.type):
            if self.streaming_tts is None:  # inside a stream, `synthesize` is for older servers: skip it
                await self._speak(Synthesize.from_event(event).text, Synthesize.from_event(event).voice, whole=True)
        elif SynthesizeStart.is_type(event.type):
            self.streaming_tts, self.pending_text, self.tts_audio_started = SynthesizeStart.from_event(event), "", False
        elif SynthesizeChunk.is_type(event.type):
            await self._stream_text(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type):
            await self._finish_stream()

    def _add_audio(self, chunk: AudioChunk) -> None:
        if self.audio is None:
            self.audio = _Audio(chunk.rate, chunk.width, chunk.channels)
        self.audio.data += chunk.audio
        if len(self.audio.data) > self.core.settings.max_upload_bytes:
            self.audio = None
            limit = self.core.settings.max_upload_bytes >> 20
            raise ApiError(413, "file_too_large", f"The audio is larger than {limit} MB")

    async def _transcribe(self) -> None:
        audio, self.audio = self.audio, None
        if audio is None or not audio.data:
            raise ApiError(400, "empty_file", "No audio arrived between audio-start and audio-stop")
        entry = self._asr_model()
        language = self.transcribe.language.split("-")[0].split("_")[0].lower() if self.transcribe.language else None
        options = TranscriptionOptions(language=language)
        request = TranscribeRequest(model=entry.slug, audio=audio.samples(), options=options)
        cancel = Cancellation()
        stream = await self.core.transcribe_stream(request, cancel)
        await self.write_event(TranscriptStart(language=stream.info.language).event())
        parts: list[str] = []
        try:
            async for segment in stream.segments:
                parts.append(segment.text)
                await self.write_event(TranscriptChunk(text=segment.text).event())
        except ConnectionError:
            cancel.leave()
            raise
        text = "".join(parts).strip()
        await self.write_event(Transcript(text=text, language=stream.info.language).event())
        await self.write_event(TranscriptStop().event())

    def _asr_model(self) -> ModelEntry:
        name = self.transcribe.name
        if name:
            return self.core.model(name, "transcription")
        language = (self.transcribe.language or "").split("-")[0].lower()
        # Without a name: the first installed model that speaks the language asked for.
        installed = self.core.served.installed.models
        for entry in self.core.served.models("transcription"):
            speaks = not language or language == "en" or not entry.english_only
            if entry.slug in installed and speaks:
                return entry
        raise ApiError(404, "model_not_found", "No installed transcription model can take this language")

    async def _speak(self, text: str, voice: object, whole: bool) -> None:
        name = getattr(voice, "name", None) or self._voice_for(getattr(voice, "language", None))
        speaker = getattr(voice, "speaker", None)
        synthesis = next(iter(self.core.served.models("synthesis")), None)
        if synthesis is None:
            raise ApiError(404, "model_not_found", "No synthesis model is installed")
        language = getattr(voice, "language", None)
        request = SpeechRequest(
            model=synthesis.slug, input=text, voice=name, response_format="pcm", speaker=speaker, language=language
        )
        speech = await self.core.synthesize(request, Cancellation())
        if whole or not self.tts_audio_started:
            await self.write_event(AudioStart(**OUTPUT, timestamp=0).event())
            self.tts_audio_started = True
        await self._send_chunks(speech.chunks)
        if whole:
            await self.write_event(AudioStop().event())
            self.tts_audio_started = False

    async def _send_chunks(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in chunks:
                await self.write_event(AudioChunk(audio=chunk, **OUTPUT, timestamp=None).event())
        finally:
            # A client that left mid-stream: closing the stream stops the work and frees its slot.
            await chunks.aclose()  # type: ignore[attr-defined]

    def _voice_for(self, language: str | None) -> str:
        """A voice for a request that names only a language: alloy where it speaks it, else the first
        installed voice that does (by its entry, or its name: en_US-amy-medium), else alloy anyway."""
        served = self.core.served
        names = served.voice_names()
        if language:
            wanted = language.replace("_", "-").lower()
            alloy = served.voice_map.get("alloy")
            speaking = [
                name
                for name in sorted(served.installed.voices)
                if (spoken := served.registry.voices[name].speaks) and _matches(spoken, wanted)
            ]
            if alloy is not None and alloy.voice in speaking:
                return "alloy"
            if speaking:
                return speaking[0]
        return "alloy" if "alloy" in names else names[0]

    async def _stream_text(self, text: str) -> None:
        if self.streaming_tts is None:
            raise ApiError(400, "invalid_event", "synthesize-chunk without synthesize-start")
        self.pending_text += text
        # Whole sentences go out as soon as they are complete; the rest waits for more text.
        cut = max(self.pending_text.rfind(end) for end in (*SENTENCE_END, *FULL_STOPS))
        if cut >= 0 and (
            self.pending_text[cut] in FULL_STOPS or self.pending_text[cut + 1 : cut + 2] in ("", " ", "\n")
        ):
            ready, self.pending_text = self.pending_text[: cut + 1], self.pending_text[cut + 1 :]
            if ready.strip():
                await self._speak(ready, self.streaming_tts.voice, whole=False)

    async def _finish_stream(self) -> None:
        if self.streaming_tts is None:
            raise ApiError(400, "invalid_event", "synthesize-stop without synthesize-start")
        rest, voice = self.pending_text, self.streaming_tts.voice
        self.streaming_tts, self.pending_text = None, ""
        if rest.strip():
            await self._speak(rest, voice, whole=False)
        if self.tts_audio_started:
            await self.write_event(AudioStop().event())
            self.tts_audio_started = False
        await self.write_event(SynthesizeStopped().event())
