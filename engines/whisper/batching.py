"""Decode 30-second chunks of audio in batches, across requests, with Whisper's temperature fallback.

Requests put their chunks (features plus how to decode them) in one queue per model; worker
threads take what is compatible, up to the batch size, encode and decode it in one call, and
hand each chunk its result. A chunk whose decoding fails Whisper's checks (too repetitive, too
unsure) goes back to the queue at the next temperature, to be batched with whatever else is
waiting there; one that passes them only just is read again with timestamp tokens. Every chunk's
words are timed, for the speech they leave out (see `coverage`): a chunk whose words pass over some
of its speech is read again with timestamp tokens too, and the rest of one whose words stop early is
read on its own.
"""

from __future__ import annotations

import atexit
import itertools
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

from engines.whisper import coverage
from engines.whisper.checks import Attempt, likeliest, needs_fallback, unsure

TOKENS_PER_SECOND = 15
"""Twice and more what fast speech needs: a chunk's decoding stops there, so that a loop on noise
ends long before Whisper's 448-token limit."""
BEST_OF = 5
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
LEADER_WAIT_S = 60.0
"""Longest a request's later chunk waits for its first chunk's language (found by another worker)."""
IDLE_EXIT_S = 2.0
"""A worker with nothing to do for this long ends; the next chunk starts a new one."""
EXIT_WAIT_S = 30.0
"""Longest the process waits, as it exits, for the batches being decoded to finish."""


@dataclass(frozen=True)
class DecodeKey:
    """Chunks with the same key can share a batch: one tokenizer and one prompt for all of them."""

    language: str | None
    """None: detect it from the chunk's encoding, in the batch."""
    task: str
    prompt: str | None
    beam_size: int


@dataclass
class ChunkResult:
    """One chunk's decoding, times in seconds from the chunk's own start."""

    segments: list[dict[str, Any]]
    """faster-whisper's subsegment dicts (`coverage.Segment`): start, end, text, tokens, and words
    when asked."""
    attempt: Attempt


@dataclass(eq=False)
class Chunk:
    """A piece of one request's audio on its way through the queue; it equals only itself (the
    queue finds chunks by identity, and comparing features would compare arrays)."""

    features: np.ndarray
    """Log-mel features, padded to 30 s."""
    duration: float
    key: DecodeKey
    temperatures: tuple[float, ...]
    future: Future[ChunkResult] = field(default_factory=Future)
    attempts: list[Attempt] = field(default_factory=list)
    step: int = 0
    """Index of the temperature it is decoded at next."""
    timestamped: bool = False
    """Decoded next with timestamp tokens: a second reading of an unsure one (see `checks.UNSURE_LOG_PROB`),
    or of one whose words passed over some of its speech (see `first`)."""
    queued_at: float = 0.0
    language_probability: float = 1.0
    detected: threading.Event = field(default_factory=threading.Event)
    """Set once the chunk's language is known (at once when it was given)."""
    follows: Chunk | None = None
    """The first chunk of the same request, whose language this one takes once it is found."""
    abandoned: bool = False
    """Its request is gone: drop it, even between temperatures."""
    background: bool = False
    """No one waits on it (a job's window): it is taken only when no other chunk waits, and it fills
    the rest of a batch."""
    words: bool = False
    """Its request asked for the words' times. Every chunk's words are timed (see `coverage`), so this
    only decides whether they stay in its result: chunks that differ in it share a batch."""
    first: ChunkResult | None = None
    """Its reading as text alone, kept while it is read again with timestamp tokens because the
    words of that reading passed over some of its speech."""
    rest: Chunk | None = None
    """The reading of the speech after its words stopped early; its result waits for it."""
    depth: int = 0
    """How many such readings of the rest it is away from a chunk of the request's own: above 0, it
    is decoded once, at the first temperature."""

    def abandon(self) -> None:
        self.abandoned = True
        self.future.cancel()
        if self.rest is not None:
            self.rest.abandon()

    @property
    def temperature(self) -> float:
        return self.temperatures[self.step]

    @property
    def decoding(self) -> tuple[DecodeKey, float, bool]:
        """Chunks that match in this can share a batch."""
        return self.key, self.temperature, self.timestamped


class Batcher:
    """The batch queue of one loaded Whisper model."""

    def __init__(self, model: WhisperModel, batch_size: int, workers: int, wait_s: float) -> None:
        self.model = model
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)
        self.wait_s = max(0.0, wait_s)
        self._queue: deque[Chunk] = deque()
        self._ready = threading.Condition()
        self._running = 0
        """Worker threads alive; of those, `_idle` wait for chunks and `_busy` decode a batch."""
        self._idle = 0
        self._busy = 0
        self._tokenizers: dict[DecodeKey, Tokenizer] = {}
        self.batches = 0
        """Batches decoded so far, and the chunks in them (for tests and metrics)."""
        self.batched_chunks = 0
        self.stopped_early = 0
        """Chunks whose words stopped before their speech did, and whose rest was read on its own."""
        self._closed = False
        _batchers.add(self)

    def submit(self, *chunks: Chunk) -> None:
        """Queue chunks; those given together are there together for the next free worker."""
        with self._ready:
            if self._closed:
                _refuse(chunks)
                return
            for chunk in chunks:
                if chunk.key.language is not None:
                    chunk.detected.set()
                chunk.queued_at = time.monotonic()
                self._queue.append(chunk)
            wanted = min(len(chunks), self.workers) - self._idle
            for _ in range(max(0, min(wanted, self.workers - self._running))):
                self._running += 1
                threading.Thread(target=self._work, name="whisper-batch", daemon=True).start()
            self._ready.notify_all()

    def close(self, timeout: float = EXIT_WAIT_S) -> None:
        """Take no more batches, fail what is queued, and wait for the batches being decoded."""
        deadline = time.monotonic() + timeout
        with self._ready:
            self._closed = True
            _refuse(self._queue)
            self._queue.clear()
            self._ready.notify_all()
            while self._busy and (left := deadline - time.monotonic()) > 0:
                self._ready.wait(timeout=left)

    def tokenizer(self, key: DecodeKey) -> Tokenizer:
        tokenizer = self._tokenizers.get(key)
        if tokenizer is None:
            tokenizer = Tokenizer(
                self.model.hf_tokenizer, self.model.model.is_multilingual, task=key.task, language=key.language
            )
            self._tokenizers[key] = tokenizer
        return tokenizer

    # ------------------------------------------------------------ workers

    def _work(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self._decode(batch)
            except BaseException as exc:  # every waiting request hears of it, and the worker goes on
                for chunk in batch:
                    if not chunk.future.done():
                        chunk.future.set_exception(exc)
                    chunk.detected.set()
            finally:
                with self._ready:
                    self._busy -= 1
                    self._ready.notify_all()

    def _take(self) -> list[Chunk]:
        """The oldest chunk and those that can join it, once the batch is full or the wait is over."""
        with self._ready:
            while True:
                self._drop_cancelled()
                if self._closed:
                    self._running -= 1
                    return []
                if not self._queue:
                    self._idle += 1
                    woken = self._ready.wait(timeout=IDLE_EXIT_S)
                    self._idle -= 1
                    if not woken and not self._queue:
                        self._running -= 1
                        return []
                    continue
                first = next((c for c in self._queue if not c.background), self._queue[0])
                group = [c for c in self._queue if c.decoding == first.decoding]
                group.sort(key=lambda c: c.background)  # stable: arrival order within each kind
                left = first.queued_at + self.wait_s - time.monotonic()
                if len(group) < self.batch_size and left > 0:
                    self._ready.wait(timeout=left)
                    continue
                # Share what is waiting among the workers that are not decoding (some may only just
                # have started), so that one long request's chunks are decoded side by side.
                share = math.ceil(len(group) / max(1, self._running - self._busy))
                taken = group[: min(self.batch_size, share)]
                for chunk in taken:
                    self._queue.remove(chunk)
                # A chunk back for another temperature is running already; a new one may have been
                # cancelled since the check above.
                batch = [c for c in taken if c.future.running() or c.future.set_running_or_notify_cancel()]
                if self._queue:
                    self._ready.notify()
                if batch:
                    self._busy += 1
                    return batch

    def _drop_cancelled(self) -> None:
        if any(c.abandoned or c.future.cancelled() for c in self._queue):
            for chunk in self._queue:
                if chunk.abandoned and not chunk.future.done():
                    chunk.future.set_exception(CancelledError())
            self._queue = deque(c for c in self._queue if not (c.abandoned or c.future.done()))

    def _retry(self, chunks: Sequence[Chunk]) -> None:
        with self._ready:
            if self._closed:
                _refuse(chunks)
                return
            now = time.monotonic()
            for chunk in reversed(chunks):
                chunk.queued_at = now - self.wait_s  # no waiting for company a second time
                self._queue.appendleft(chunk)
            self._ready.notify_all()

    def _decode(self, batch: list[Chunk]) -> None:
        temperature = batch[0].temperature
        encoder_output = self.model.encode(np.stack([c.features for c in batch]))
        if batch[0].key.language is None:
            self._find_languages(batch, encoder_output)
        tokenizers = [self.tokenizer(chunk.key) for chunk in batch]
        attempts = self._generate(encoder_output, batch, tokenizers, temperature)
        self.batches += 1
        self.batched_chunks += len(batch)
        done: list[tuple[Chunk, Attempt]] = []
        retry: list[Chunk] = []
        for chunk, attempt in zip(batch, attempts, strict=True):
            chunk.attempts.append(attempt)
            kept = _settle(chunk)
            if kept is None:
                retry.append(chunk)
            else:
                done.append((chunk, kept))
        if retry:
            self._retry(retry)
        results = {chunk: self._segments(chunk, attempt) for chunk, attempt in done}
        # Words are timed whether they were asked for or not: where they leave out some of the chunk's
        # speech, the text did. The alignment starts from each language's own tokens: one call per
        # language.
        spoken = [chunk for chunk, _ in done if results[chunk].segments]
        for _, group in itertools.groupby(sorted(spoken, key=lambda c: str(c.key.language)), lambda c: c.key):
            chunks = list(group)
            self._add_words(batch, {c: results[c] for c in chunks}, self.tokenizer(chunks[0].key), encoder_output)
        again = []
        for chunk, _ in done:
            result = results[chunk]
            if chunk.first is not None:
                result = _better(chunk.first, result, chunk.duration)
            elif self._passed_over(chunk, result):
                chunk.first, chunk.timestamped = result, True
                again.append(chunk)
                continue
            start = coverage.rest(result.segments, chunk.duration) if chunk.depth < coverage.DEPTH else None
            if start is not None and _sure(result):
                self._read_rest(chunk, result, start)
            else:
                chunk.future.set_result(self._finished(chunk, result))
        if again:
            self._retry(again)

    def _find_languages(self, batch: list[Chunk], encoder_output: Any) -> None:
        """From the encoding the batch needs anyway, no second encoder pass: a request's first
        chunk finds its language (as Whisper takes it from the first 30 s), and the request's
        other chunks take that one, waiting for another worker to find it if need be."""
        found = self.model.model.detect_language(encoder_output)
        leaders = [(chunk, best) for chunk, best in zip(batch, found, strict=True) if chunk.follows is None]
        for chunk, best in leaders:
            token, probability = best[0]
            chunk.key = replace(chunk.key, language=token[2:-2])
            chunk.language_probability = probability
            chunk.detected.set()
        for chunk, best in zip(batch, found, strict=True):
            if chunk.follows is not None:
                chunk.follows.detected.wait(timeout=LEADER_WAIT_S)
                # A first chunk that failed or was dropped leaves this one to its own language.
                language = chunk.follows.key.language or best[0][0][2:-2]
                chunk.key = replace(chunk.key, language=language)
                chunk.detected.set()

    def _generate(
        self, encoder_output: Any, batch: list[Chunk], tokenizers: list[Tokenizer], temperature: float
    ) -> list[Attempt]:
        key = batch[0].key
        previous = tokenizers[0].encode(" " + key.prompt.strip()) if key.prompt else []
        # Text alone, as faster-whisper's batched mode decodes: a chunk is cut at pauses already,
        # and without timestamp tokens the decoder spends its attention on the words (the dev
        # clips' WER is lower so). Segment and word times come from the alignment when asked for;
        # a second reading with timestamp tokens drops them (they all come after the end token).
        # Prompts differ only in their language token, so they are all the same length.
        plain = not batch[0].timestamped
        prompts = [self.model.get_prompt(t, previous, without_timestamps=plain) for t in tokenizers]
        if temperature > 0:
            search: dict[str, Any] = {
                "beam_size": 1,
                "num_hypotheses": BEST_OF,
                "sampling_topk": 0,
                "sampling_temperature": temperature,
            }
        else:
            search = {"beam_size": key.beam_size}
        longest = max(chunk.duration for chunk in batch)
        max_length = min(self.model.max_length, len(prompts[0]) + 32 + int(TOKENS_PER_SECOND * longest))
        results = self.model.model.generate(
            encoder_output,
            prompts,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizers[0], [-1]),
            **search,
        )
        attempts = []
        for result, tokenizer in zip(results, tokenizers, strict=True):
            tokens = result.sequences_ids[0]
            # CTranslate2 returns the length-normalised score; Whisper's average counts the end token.
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            attempts.append(
                Attempt(
                    tokens=tokens,
                    avg_logprob=avg_logprob,
                    no_speech_prob=result.no_speech_prob,
                    compression_ratio=get_compression_ratio(tokenizer.decode(tokens).strip()),
                    temperature=temperature,
                )
            )
        return attempts

    def _segments(self, chunk: Chunk, attempt: Attempt) -> ChunkResult:
        tokenizer = self.tokenizer(chunk.key)
        text_tokens = [token for token in attempt.tokens if token < tokenizer.eot]
        if not text_tokens:
            return ChunkResult(segments=[], attempt=attempt)
        segment = {
            "seek": 0,
            "start": 0.0,
            "end": chunk.duration,
            "tokens": text_tokens,
            "text": tokenizer.decode(text_tokens),
        }
        return ChunkResult(segments=[segment], attempt=attempt)

    def _add_words(
        self, batch: list[Chunk], results: dict[Chunk, ChunkResult], tokenizer: Tokenizer, encoder_output: Any
    ) -> None:
        """Time the words of `results`' chunks, from the whole batch's encoding (the other chunks
        align no text, at next to no cost, where encoding a part of the batch again would cost as
        much as decoding it)."""
        self.model.add_word_timestamps(
            [results[c].segments if c in results else [dict(_NO_TEXT)] for c in batch],
            tokenizer,
            encoder_output,
            [int(math.ceil(c.duration) * self.model.frames_per_second) for c in batch],
            PREPEND_PUNCTUATIONS,
            APPEND_PUNCTUATIONS,
            0.0,
        )

    @staticmethod
    def _passed_over(chunk: Chunk, result: ChunkResult) -> bool:
        """A sure reading as text alone whose words pass over some of the chunk's speech: a turn
        it missed, which a reading with timestamp tokens (as an unsure one gets) finds."""
        return (
            chunk.depth == 0
            and not chunk.timestamped
            and _sure(result)
            and coverage.passed_over(result.segments, chunk.duration)
        )

    def _read_rest(self, chunk: Chunk, result: ChunkResult, start: float) -> None:
        """Read the speech after `start`, where `chunk`'s words stopped early, as a chunk of its own
        at the front of the queue; `chunk`'s result is set once it is read."""
        frames = self.model.frames_per_second
        features = chunk.features[..., int(start * frames) : int(chunk.duration * frames)]
        rest = Chunk(
            features=pad_or_trim(features),
            duration=features.shape[-1] / frames,
            key=chunk.key,
            temperatures=chunk.temperatures[:1],
            background=chunk.background,
            depth=chunk.depth + 1,
        )
        chunk.rest = rest

        def read(_: Future[ChunkResult]) -> None:
            try:
                self._join(chunk, result, start, rest)
            except BaseException as exc:  # the request hears of it (a callback's own errors are only logged)
                if not chunk.future.done():
                    chunk.future.set_exception(exc)

        rest.detected.set()
        rest.future.add_done_callback(read)
        self.stopped_early += 1
        self._retry([rest])

    def _join(self, chunk: Chunk, result: ChunkResult, start: float, rest: Chunk) -> None:
        if chunk.abandoned or chunk.future.done():
            return
        if (error := rest.future.exception()) is not None:  # a closing batcher refused it, say
            chunk.future.set_exception(error)
            return
        segments = result.segments
        read = rest.future.result()
        # Read once, at the first temperature: what fails Whisper's checks there adds no words worth
        # having (speakers over each other, breathing) and is not worth six more decodings.
        if _sure(read):
            encode = self.tokenizer(chunk.key).encode
            segments = coverage.extended(segments, start, read.segments, read.attempt, encode)
        joined = ChunkResult(segments=segments, attempt=result.attempt)
        chunk.future.set_result(self._finished(chunk, joined))

    @staticmethod
    def _finished(chunk: Chunk, result: ChunkResult) -> ChunkResult:
        """The result to hand back: without the words' times where they were not asked for. A rest's
        words stay for the chunk it belongs to, which is joined to it by them."""
        if chunk.words or chunk.depth > 0:
            return result
        segments = [{k: v for k, v in segment.items() if k != "words"} for segment in result.segments]
        return ChunkResult(segments=segments, attempt=result.attempt)


_NO_TEXT: dict[str, Any] = {"seek": 0, "start": 0.0, "end": 0.0, "tokens": [], "text": ""}


def _settle(chunk: Chunk) -> Attempt | None:
    """The decoding a chunk keeps after its latest attempt, or None when it goes round again:
    hotter after a failed attempt, or with timestamp tokens after an unsure one."""
    attempt = chunk.attempts[-1]
    if chunk.first is not None:
        return attempt  # read again for the speech the first reading passed over: see `_better`
    if chunk.timestamped:
        return likeliest(chunk.attempts)  # the likelier of the two readings
    if needs_fallback(attempt) and chunk.step + 1 < len(chunk.temperatures):
        chunk.step += 1
        return None
    if unsure(attempt) and chunk.depth == 0:
        chunk.timestamped = True
        return None
    return likeliest(chunk.attempts) if needs_fallback(attempt) else attempt


def _sure(result: ChunkResult) -> bool:
    return coverage.sure(result.segments, result.attempt)


def _better(first: ChunkResult, second: ChunkResult, duration: float) -> ChunkResult:
    """Of a chunk's reading as text alone and its reading with timestamp tokens, the one that leaves
    out less of its speech; the first where they leave out as much, as text alone reads words better."""
    covers_more = coverage.left_out(second.segments, duration) < coverage.left_out(first.segments, duration)
    return second if _sure(second) and covers_more else first


def _refuse(chunks: Iterable[Chunk]) -> None:
    """What a closed batcher does with chunks: each request waiting on one hears it was cancelled."""
    for chunk in chunks:
        if not chunk.future.done():
            chunk.future.set_exception(CancelledError())
        chunk.detected.set()


_batchers: weakref.WeakSet[Batcher] = weakref.WeakSet()


@atexit.register
def _finish_batches() -> None:
    """Workers are daemon threads, and one still inside CTranslate2 while the interpreter tears down
    aborts the process ("terminate called without an active exception"): let their batches finish."""
    deadline = time.monotonic() + EXIT_WAIT_S
    for batcher in list(_batchers):
        batcher.close(max(0.0, deadline - time.monotonic()))
