"""One live transcription session of OpenAI's realtime protocol (the GA transcription dialect).

The client appends audio; turns are found in it by the server's VAD (or committed by the client);
while a turn goes on, its audio so far is read again about every `REREAD_S`, and the words two
readings in a row agree on go out as deltas (local agreement), so that deltas only ever append.
When the turn ends, `completed` carries the final reading of the whole turn. That reading starts as
soon as the speech pauses, before the silence that ends the turn has lasted long enough to tell:
when the pause does end the turn, `completed` need not wait for a reading to start then.

Transcription goes through the core like any request: the same models, admission and batches.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import soxr

from engines.audio.g711 import G711_RATE, decode_alaw, decode_ulaw
from engines.audio.turns import Turn, TurnDetector, TurnSettings
from engines.base import TranscriptionOptions, full_text
from server.cancel import Cancellation, ClientGone
from server.core import Core
from server.core.requests import Samples, TranscribeRequest
from server.errors import ApiError
from server.realtime.previews import Previews

log = logging.getLogger(__name__)

RATE = 16000
PCM_RATE = 24000
REREAD_S = 0.7
"""How often a turn in progress is read again for its deltas."""
MIN_COMMIT_S = 0.1
SESSION_S = 3600
KEEP_BETWEEN_TURNS = RATE // 5
"""Kept between turns beyond the prefix padding, for the frames the detector has yet to decide on."""
EAGERNESS_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}
"""semantic_vad's eagerness, as the silence that ends a turn (this server hears no semantics)."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class ProtocolError(Exception):
    """A client event the session refuses; it answers with an `error` event and goes on."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


@dataclass
class Config:
    format: str = "audio/pcm"
    model: str | None = None
    """None until the client sets a transcription: no transcripts before that, as OpenAI does."""
    language: str | None = None
    prompt: str | None = None
    turn_detection: dict[str, Any] | None = field(
        default_factory=lambda: {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
        }
    )
    noise_reduction: dict[str, Any] | None = None
    include: list[str] | None = None

    def turn_settings(self) -> TurnSettings | None:
        detection = self.turn_detection
        if detection is None:
            return None
        if detection["type"] == "semantic_vad":
            silence = EAGERNESS_SILENCE_MS[detection.get("eagerness") or "auto"]
            return TurnSettings(silence_duration_ms=silence)
        return TurnSettings(
            threshold=detection["threshold"],
            prefix_padding_ms=detection["prefix_padding_ms"],
            silence_duration_ms=detection["silence_duration_ms"],
        )


@dataclass
class Guess:
    """A reading of a turn up to where its speech paused, begun at once: the turn's final reading if
    the pause ends the turn, otherwise one more preview."""

    end: int
    cancel: Cancellation
    task: asyncio.Task[tuple[list[str], str] | None]


@dataclass
class Item:
    id: str
    start: int
    """First sample of its audio, counted from the start of the session."""
    emitted: list[str] = field(default_factory=list)
    """Words already sent as deltas."""
    previous: list[str] | None = None
    """The last reading's words, for the next one to agree with."""
    committed: bool = False
    read_to: int = 0
    """Where the last reading's audio ended."""
    ended_at: float = 0.0
    """When its speech ended or it was committed (monotonic), for the latency to `completed`."""
    guess: Guess | None = None
    final_guess: Guess | None = None
    """The guess that turned out to be the final reading: the turn stopped at its pause."""


class Session:
    def __init__(
        self,
        core: Core,
        send: Send,
        model: str | None = None,
        beta: bool = False,
        previews: Previews | None = None,
    ) -> None:
        self.core = core
        self._previews = previews or Previews(core)
        self._send = send
        self.beta = beta
        """Speak the beta dialect (`transcription_session.*`, flat fields) that older clients use."""
        self.id = new_id("sess")
        self.created = time.time()
        self.config = Config(model=model)
        self._detector: TurnDetector | None = TurnDetector(self.config.turn_settings() or TurnSettings())
        self._resampler: soxr.ResampleStream | None = None
        self._audio: list[np.ndarray] = []
        self._audio_start = 0
        """The session sample where `_audio` (the buffer not yet committed) starts."""
        self._samples = 0
        self._item: Item | None = None
        self._last_item: str | None = None
        self._work: asyncio.Queue[tuple[Item, np.ndarray, bool] | None] = asyncio.Queue()
        self._reading = False
        self._worker = asyncio.create_task(self._transcribe_in_order())
        self._cancel = Cancellation()
        self._guesses: dict[int, Cancellation] = {}
        """Those of the readings begun at pauses still going on (see `_guess`)."""
        self._partial: Cancellation | None = None
        """The reading in progress of a turn still going on: dropped once the turn ends, since its final
        reading (which waits for it otherwise) hears all of it."""

    # ------------------------------------------------------------ events in

    async def start(self) -> None:
        await self.emit("transcription_session.created" if self.beta else "session.created", session=self.view())

    async def receive(self, text: str) -> None:
        try:
            event = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            await self.error("invalid_json", "The event is not valid JSON")
            return
        if not isinstance(event, dict):
            await self.error("invalid_json", "An event must be a JSON object")
            return
        kind = event.get("type")
        client_event = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if kind == "transcription_session.update":
            self.beta = True  # an older client says which dialect it speaks by its first update
        handlers = {
            "session.update": self._update,
            "transcription_session.update": self._update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
        }
        handler = handlers.get(kind) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid value: {str(kind)[:60]!r}. Supported values are: {', '.join(map(repr, handlers))}.",
                    "type",
                )
            await handler(event)
        except ProtocolError as exc:
            await self.error(exc.code, exc.message, exc.param, client_event)
        except Exception:  # a bug here must not end the person's session: it hears of it, and goes on
            log.exception("realtime: the %s event failed", str(kind)[:60])
            await self.error("server_error", "The server failed on this event; see its log", None, client_event)

    async def close(self) -> None:
        """The client went: stop at once, and give the model's slot back."""
        self._cancel.leave()
        if self._partial is not None:
            self._partial.leave()
        for cancel in self._guesses.values():
            cancel.leave()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker

    # ------------------------------------------------------------ session.update

    async def _update(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            raise ProtocolError("invalid_value", "'session' must be an object", "session")
        if event.get("type") == "transcription_session.update":
            session = from_beta(session)
        self.configure(updated(self.core, self.config, session))
        await self.emit("transcription_session.updated" if self.beta else "session.updated", session=self.view())

    def configure(self, config: Config) -> None:
        if config.format != self.config.format:
            self._resampler = None
        self.config = config
        settings = config.turn_settings()
        self._detector = TurnDetector(settings) if settings is not None else None
        if self._detector is not None:
            self._detector.reset(self._samples)

    def view(self) -> dict[str, Any]:
        expires_at = int(self.created + SESSION_S)
        return beta_view(self.config, self.id, expires_at) if self.beta else view(self.config, self.id, expires_at)

    # ------------------------------------------------------------ audio

    async def _append(self, event: dict[str, Any]) -> None:
        data = event.get("audio")
        if not isinstance(data, str):
            raise ProtocolError("invalid_value", "'audio' must be base64 audio in the session's format", "audio")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("invalid_value", "'audio' is not valid base64", "audio") from None
        samples = self._decode(raw)
        if not len(samples):
            return
        self._audio.append(samples)
        self._samples += len(samples)
        if self._detector is None:
            return
        for turn in self._detector.feed(samples):
            await self._turn(turn)
        self._guess()
        if self._item is None:
            # Between turns only the padding a next turn may reach back into is kept: a session
            # that hears silence for an hour holds a second of it.
            keep = self._detector.settings.prefix_padding_ms * RATE // 1000 + KEEP_BETWEEN_TURNS
            self._drop_until(max(self._audio_start, self._samples - keep))
        await self._reread()

    async def _reread(self) -> None:
        """Read the turn in progress again once enough new audio came since the last reading (and none
        is under way, and the model has room for it): its deltas come from two readings in a row agreeing."""
        item = self._item
        if item is None or self._reading or self._samples - max(item.read_to, item.start) < REREAD_S * RATE:
            return
        if item.guess is not None and not item.guess.task.done():
            return  # the reading at the last pause is the preview
        if self.config.model is None or not self._previews.room(self.config.model):
            return
        item.read_to = self._samples
        await self._queue(item, self._since(item.start), final=False)

    def _guess(self) -> None:
        """The speech paused: start the turn's final reading now, up to the pause, in case the pause
        turns out to end the turn."""
        item, detector, model = self._item, self._detector, self.config.model
        pause = detector.pause if detector is not None else None
        if item is None or pause is None or model is None or pause - item.start < MIN_COMMIT_S * RATE:
            return
        if item.guess is not None and (item.guess.end == pause or not item.guess.task.done()):
            return  # this pause's reading has begun, or an earlier one's goes on (as a preview)
        # It is a preview until the turn ends, and needs the room one needs; but not from this
        # session's own preview in flight, which it overtakes.
        if not self._previews.take(model, mine=int(self._partial is not None)):
            return
        cancel = Cancellation()
        audio = self._between(item.start, pause)
        task = asyncio.create_task(self._read_guess(item, audio, cancel, model))
        self._guesses[id(cancel)] = cancel
        task.add_done_callback(lambda _: self._guesses.pop(id(cancel), None))
        item.guess = Guess(pause, cancel, task)
        item.read_to = max(item.read_to, pause)

    async def _read_guess(
        self, item: Item, audio: np.ndarray, cancel: Cancellation, model: str
    ) -> tuple[list[str], str] | None:
        """The reading of a guess; None where it did not finish (the final reading then reads anew,
        and reports its own error)."""
        try:
            words, text = await self._read(audio, cancel, background=False)
            if not item.committed:
                await self._agree(item, words)
            return words, text
        except (ClientGone, ApiError, asyncio.CancelledError):
            return None
        except Exception:
            log.exception("realtime: a reading at a pause failed")
            return None
        finally:
            self._previews.done(model)

    def _drop_guess(self, item: Item) -> None:
        if item.guess is not None and item.guess is not item.final_guess:
            item.guess.cancel.leave()

    def _decode(self, raw: bytes) -> np.ndarray:
        fmt = self.config.format
        if fmt == "audio/pcm":
            if len(raw) % 2:
                raise ProtocolError(
                    "invalid_value", "16-bit PCM comes in whole samples: an even number of bytes", "audio"
                )
            pcm, rate = np.frombuffer(raw, dtype="<i2"), PCM_RATE
        else:
            pcm, rate = (decode_ulaw(raw) if fmt == "audio/pcmu" else decode_alaw(raw)), G711_RATE
        if self._resampler is None:
            self._resampler = soxr.ResampleStream(rate, RATE, 1, dtype="float32")
        floats = pcm.astype(np.float32) / 32768.0
        return np.asarray(self._resampler.resample_chunk(floats), dtype=np.float32)

    async def _turn(self, turn: Turn) -> None:
        if turn.kind == "started":
            self._item = Item(new_id("item"), turn.sample)
            await self.emit("input_audio_buffer.speech_started", audio_start_ms=_ms(turn.sample), item_id=self._item.id)
            return
        item = self._item
        if item is None:
            return
        await self.emit("input_audio_buffer.speech_stopped", audio_end_ms=_ms(turn.sample), item_id=item.id)
        if item.guess is not None and item.guess.end == turn.speech_end:
            item.final_guess = item.guess
        await self._commit_item(item, self._between(item.start, turn.sample), turn.sample)

    async def _commit(self, event: dict[str, Any]) -> None:
        buffered = self._samples - self._audio_start
        if buffered < MIN_COMMIT_S * RATE:
            raise ProtocolError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered * 1000 / RATE:.2f}ms of audio.",
            )
        item = self._item or Item(new_id("item"), self._audio_start)
        if self._detector is not None:
            self._detector.reset(self._samples)
        await self._commit_item(item, self._between(item.start, self._samples), self._samples)

    async def _clear(self, event: dict[str, Any]) -> None:
        if self._item is not None:
            self._drop_guess(self._item)
        self._audio, self._audio_start, self._item = [], self._samples, None
        if self._detector is not None:
            self._detector.reset(self._samples)
        await self.emit("input_audio_buffer.cleared")

    async def _commit_item(self, item: Item, audio: np.ndarray, end: int) -> None:
        if self._partial is not None:
            self._partial.leave()
        self._drop_guess(item)
        self._item = None
        item.committed = True
        item.ended_at = time.monotonic()
        self._drop_until(end)
        await self.emit("input_audio_buffer.committed", previous_item_id=self._last_item, item_id=item.id)
        item_view = {
            "id": item.id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        if self.beta:
            item_view = {"object": "realtime.item", **item_view}
            await self.emit("conversation.item.created", previous_item_id=self._last_item, item=item_view)
        else:
            await self.emit("conversation.item.added", previous_item_id=self._last_item, item=item_view)
            await self.emit("conversation.item.done", previous_item_id=self._last_item, item=item_view)
        self._last_item = item.id
        await self._queue(item, audio, final=True)

    def _since(self, start: int) -> np.ndarray:
        return self._between(start, self._samples)

    def _between(self, start: int, end: int) -> np.ndarray:
        if not self._audio:
            return np.zeros(0, np.float32)
        joined = np.concatenate(self._audio)
        self._audio = [joined]
        first = max(0, start - self._audio_start)
        return joined[first : max(first, end - self._audio_start)]

    def _drop_until(self, end: int) -> None:
        if self._audio:
            joined = np.concatenate(self._audio)
            keep = joined[max(0, end - self._audio_start) :]
            self._audio = [keep] if len(keep) else []
        self._audio_start = end

    # ------------------------------------------------------------ transcription

    async def _queue(self, item: Item, audio: np.ndarray, final: bool) -> None:
        if self.config.model is None:
            if final:
                await self.emit(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item.id,
                    content_index=0,
                    transcript="",
                    usage={"type": "duration", "seconds": round(len(audio) / RATE, 3)},
                )
            return
        if not final:
            self._reading = True
        self._work.put_nowait((item, audio, final))

    async def _transcribe_in_order(self) -> None:
        """One transcription at a time per session, in the order asked: an item's deltas before its
        `completed`, and items in turn order."""
        while (job := await self._work.get()) is not None:
            item, audio, final = job
            model = self.config.model or ""
            if not final and (item.committed or not self._previews.take(model)):
                # The turn ended while this reading waited (its final reading is next), or other
                # sessions' previews fill the model: the next audio asks again.
                self._reading = False
                continue
            if final and item.final_guess is not None:
                guessed = await item.final_guess.task
                if guessed is not None:
                    await self._finish(item, *guessed, len(audio) / RATE)
                    continue
            cancel = self._cancel
            if not final:
                cancel = self._partial = Cancellation()
            try:
                words, text = await self._read(audio, cancel, background=not final)
            except ClientGone:
                if self._cancel.event.is_set():
                    return  # the client went
                self._reading = False
                continue  # a reading the turn's end made moot
            except ApiError as exc:
                self._reading = False
                if final:
                    await self.emit(
                        "conversation.item.input_audio_transcription.failed",
                        item_id=item.id,
                        content_index=0,
                        error={"type": "transcription_error", "code": exc.code, "message": exc.message, "param": None},
                    )
                continue
            finally:
                if not final:
                    self._partial = None
                    self._previews.done(model)
            if final:
                await self._finish(item, words, text, len(audio) / RATE)
            else:
                self._reading = False
                await self._agree(item, words)
                await self._reread()  # a client ahead of real time has sent more already

    async def _read(self, audio: np.ndarray, cancel: Cancellation, background: bool) -> tuple[list[str], str]:
        """A reading of a turn; the readings of a turn in progress are background work, so that every
        session's final readings (and HTTP requests) go first when the model is busy."""
        c = self.config
        assert c.model is not None
        if len(audio) < MIN_COMMIT_S * RATE:
            return [], ""
        options = TranscriptionOptions(language=c.language, prompt=c.prompt, background=background)
        request = TranscribeRequest(c.model, Samples(audio, RATE), options)
        _, segments = await self.core.transcribe(request, cancel)
        text = full_text(segments)
        return text.split(), text

    async def _agree(self, item: Item, words: list[str]) -> None:
        """Local agreement: send the words this reading and the last one agree on, past those sent."""
        previous, item.previous = item.previous, words
        if previous is None:
            return
        agreed = _agreed(previous, words)
        if agreed > len(item.emitted) and _extends(words, item.emitted):
            await self._delta(item, words[len(item.emitted) : agreed])

    async def _finish(self, item: Item, words: list[str], text: str, seconds: float) -> None:
        if len(words) > len(item.emitted) and _extends(words, item.emitted):
            await self._delta(item, words[len(item.emitted) :])
        await self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item.id,
            content_index=0,
            transcript=text,
            usage={"type": "duration", "seconds": round(seconds, 3)},
        )
        metrics, model = self.core.metrics, self.config.model or ""
        metrics.realtime_turns.labels(model=model).inc()
        metrics.realtime_latency.labels(model=model).observe(time.monotonic() - item.ended_at)

    async def _delta(self, item: Item, words: list[str]) -> None:
        delta = (" " if item.emitted else "") + " ".join(words)
        item.emitted = item.emitted + words
        await self.emit(
            "conversation.item.input_audio_transcription.delta", item_id=item.id, content_index=0, delta=delta
        )

    # ------------------------------------------------------------ events out

    async def emit(self, kind: str, **fields: Any) -> None:
        await self._send({"type": kind, "event_id": new_id("event"), **fields})

    async def error(self, code: str, message: str, param: str | None = None, event_id: str | None = None) -> None:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        }
        await self.emit("error", error=error)


def _ms(sample: int) -> int:
    return sample * 1000 // RATE


def _word(word: str) -> str:
    """A word as readings are compared: "himself." and "Himself" are one word read twice."""
    return re.sub(r"[^\w']", "", word.lower())


def _agreed(a: list[str], b: list[str]) -> int:
    """How many words two readings agree on, from the start."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if _word(x) != _word(y):
            break
        count += 1
    return count


def _extends(words: list[str], sent: list[str]) -> bool:
    """Whether a reading begins with the words already sent (so its rest can follow them)."""
    return len(words) >= len(sent) and _agreed(words, sent) == len(sent)


def _object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise ProtocolError("invalid_type", f"'{path}' must be an object", path)


def _known(value: dict[str, Any], known: set[str], path: str) -> None:
    for key in value:
        if key not in known:
            raise ProtocolError("unknown_parameter", f"Unknown parameter: '{path}.{key}'.", f"{path}.{key}")


def _format(value: Any, path: str) -> str:
    _object(value, path)
    kind = value.get("type")
    if kind == "audio/pcm":
        rate = value.get("rate", PCM_RATE)
        if rate != PCM_RATE:
            code = "integer_below_min_value" if isinstance(rate, int) and rate < PCM_RATE else "invalid_value"
            raise ProtocolError(code, f"Invalid 'rate': {rate!r}. PCM audio is taken at 24000 Hz.", f"{path}.rate")
        return "audio/pcm"
    if kind in ("audio/pcmu", "audio/pcma"):
        return str(kind)
    raise ProtocolError("invalid_value", "'type' must be 'audio/pcm', 'audio/pcmu' or 'audio/pcma'", f"{path}.type")


def _turn_detection(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    _object(value, path)
    kind = value.get("type")
    if kind == "semantic_vad":
        _known(value, {"type", "eagerness", "create_response", "interrupt_response"}, path)
        eagerness = value.get("eagerness", "auto")
        if not isinstance(eagerness, str) or eagerness not in EAGERNESS_SILENCE_MS:
            raise ProtocolError("invalid_value", "'eagerness' must be low, medium, high or auto", f"{path}.eagerness")
        return {"type": "semantic_vad", "eagerness": eagerness}
    if kind != "server_vad":
        raise ProtocolError("invalid_value", "'type' must be 'server_vad' or 'semantic_vad'", f"{path}.type")
    known = {
        "type",
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "create_response",
        "interrupt_response",
        "idle_timeout_ms",
    }
    _known(value, known, path)
    threshold = value.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ProtocolError("invalid_value", "'threshold' must be a number from 0 to 1", f"{path}.threshold")
    result: dict[str, Any] = {"type": "server_vad", "threshold": float(threshold)}
    for name, default, high in (("prefix_padding_ms", 300, 10000), ("silence_duration_ms", 200, 10000)):
        number = value.get(name, default)
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= high:
            raise ProtocolError("invalid_value", f"'{name}' must be a whole number from 0 to {high}", f"{path}.{name}")
        result[name] = number
    return result


def _include(value: Any) -> list[str] | None:
    if value is None:
        return None
    allowed = {"item.input_audio_transcription.logprobs"}
    if not isinstance(value, list) or any(not isinstance(v, str) or v not in allowed for v in value):
        raise ProtocolError("invalid_value", f"'include' may hold only {', '.join(sorted(allowed))}", "session.include")
    return list(value)


def view(c: Config, session_id: str, expires_at: int) -> dict[str, Any]:
    """The GA transcription session object, as `session.created` and `session.updated` carry it."""
    audio_format: dict[str, Any] = {"type": c.format}
    if c.format == "audio/pcm":
        audio_format["rate"] = PCM_RATE
    transcription = None
    if c.model is not None:
        transcription = {"model": c.model, "language": c.language, "prompt": c.prompt}
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": session_id,
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": audio_format,
                "transcription": transcription,
                "noise_reduction": c.noise_reduction,
                "turn_detection": c.turn_detection,
            }
        },
        "include": c.include,
    }


def updated(core: Core, config: Config, session: dict[str, Any]) -> Config:
    """`config` with a GA `session.update`'s session merged in; ProtocolError (and nothing changed)
    when any part of it is wrong."""
    if session.get("type", "transcription") != "transcription":
        raise ProtocolError(
            "invalid_value",
            "This server speaks transcription sessions: 'session.type' must be 'transcription'",
            "session.type",
        )
    config = replace(config)
    _known(session, {"type", "audio", "include", "id", "object", "expires_at"}, "session")
    audio = session.get("audio")
    if audio is not None:
        _object(audio, "session.audio")
        _known(audio, {"input"}, "session.audio")
        audio_in = audio.get("input")
        if audio_in is not None:
            _object(audio_in, "session.audio.input")
            _apply_input(core, config, audio_in, "session.audio.input")
    if "include" in session:
        config.include = _include(session["include"])
    return config


def _apply_input(core: Core, config: Config, audio_in: dict[str, Any], path: str) -> None:
    _known(audio_in, {"format", "transcription", "turn_detection", "noise_reduction"}, path)
    if "format" in audio_in:
        config.format = _format(audio_in["format"], f"{path}.format")
    if "transcription" in audio_in:
        transcription = audio_in["transcription"]
        if transcription is None:
            config.model = None
        else:
            where = f"{path}.transcription"
            _object(transcription, where)
            _known(transcription, {"model", "language", "prompt", "languages", "keywords", "delay"}, where)
            model = transcription.get("model", config.model)
            if not isinstance(model, str) or not model:
                raise ProtocolError("invalid_value", "'model' must name a transcription model", f"{where}.model")
            try:
                config.model = core.model(model, "transcription").slug
            except ApiError as exc:
                raise ProtocolError(exc.code, exc.message, f"{where}.model") from None
            language = transcription.get("language")
            if language is not None and not isinstance(language, str):
                raise ProtocolError("invalid_value", "'language' must be a language code", f"{where}.language")
            config.language = language.lower() if language else None
            prompt = transcription.get("prompt")
            if prompt is not None and not isinstance(prompt, str):
                raise ProtocolError("invalid_value", "'prompt' must be text", f"{where}.prompt")
            config.prompt = prompt or None
    if "turn_detection" in audio_in:
        config.turn_detection = _turn_detection(audio_in["turn_detection"], f"{path}.turn_detection")
    if "noise_reduction" in audio_in:
        reduction = audio_in["noise_reduction"]
        if reduction is not None:
            _object(reduction, f"{path}.noise_reduction")
            if reduction.get("type") not in ("near_field", "far_field"):
                message = "'type' must be 'near_field' or 'far_field'"
                raise ProtocolError("invalid_value", message, f"{path}.noise_reduction.type")
        config.noise_reduction = reduction


BETA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": PCM_RATE},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}


def from_beta(session: dict[str, Any]) -> dict[str, Any]:
    """A beta `transcription_session.update`'s flat session, in the GA shape `updated` takes."""
    known = {
        "input_audio_format",
        "input_audio_transcription",
        "turn_detection",
        "input_audio_noise_reduction",
        "include",
        "modalities",
        "client_secret",
    }
    _known(session, known, "session")
    audio_in: dict[str, Any] = {}
    if "input_audio_format" in session:
        name = session["input_audio_format"]
        if not isinstance(name, str) or name not in BETA_FORMATS:
            raise ProtocolError(
                "invalid_value",
                "'input_audio_format' must be pcm16, g711_ulaw or g711_alaw",
                "session.input_audio_format",
            )
        audio_in["format"] = BETA_FORMATS[name]
    for beta, ga in (
        ("input_audio_transcription", "transcription"),
        ("turn_detection", "turn_detection"),
        ("input_audio_noise_reduction", "noise_reduction"),
    ):
        if beta in session:
            audio_in[ga] = session[beta]
    ga_session: dict[str, Any] = {"type": "transcription", "audio": {"input": audio_in}}
    if "include" in session:
        ga_session["include"] = session["include"]
    return ga_session


def beta_view(c: Config, session_id: str, expires_at: int) -> dict[str, Any]:
    """The beta transcription session object (`transcription_session.created` / `.updated`)."""
    name = next(n for n, f in BETA_FORMATS.items() if f["type"] == c.format)
    transcription = None
    if c.model is not None:
        transcription = {"model": c.model, "language": c.language, "prompt": c.prompt}
    return {
        "id": session_id,
        "object": "realtime.transcription_session",
        "expires_at": expires_at,
        "modalities": ["text"],
        "input_audio_format": name,
        "input_audio_transcription": transcription,
        "turn_detection": c.turn_detection,
        "input_audio_noise_reduction": c.noise_reduction,
        "include": c.include,
        "client_secret": None,
    }
