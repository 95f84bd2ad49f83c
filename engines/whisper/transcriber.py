"""faster-whisper behind a small interface: numpy audio and options in, dataclasses out."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.transcribe import Segment as FwSegment
from faster_whisper.transcribe import TranscriptionInfo as FwInfo

from engines.audio.decode import WHISPER_RATE
from engines.base import Segment, TranscriptInfo, TranscriptionOptions, Word
from engines.whisper import timeline
from engines.whisper.batching import Batcher, Chunk, DecodeKey
from engines.whisper.guard import hallucinated
from engines.whisper.policy import Batching


@dataclass
class WhisperTranscriber:
    """faster-whisper as a `engines.base.Transcriber`."""

    model: WhisperModel
    beam_size: int = 5
    batching: Batching = field(default_factory=Batching)
    batcher: Batcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = Batcher(self.model, self.batching.batch_size, self.batching.workers, self.batching.wait_s)

    @classmethod
    def load(
        cls,
        path: Path,
        device: str,
        compute_type: str,
        beam_size: int = 5,
        batching: Batching | None = None,
        cpu_threads: int = 0,
    ) -> WhisperTranscriber:
        batching = batching or Batching()
        model = WhisperModel(
            str(path),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=batching.workers,
            local_files_only=True,
        )
        return cls(model=model, beam_size=beam_size, batching=batching)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def stream(self, audio: np.ndarray, options: TranscriptionOptions) -> tuple[TranscriptInfo, Iterator[Segment]]:
        """Start decoding; segments come lazily, so iterate them once, in the worker thread.

        By default Silero VAD cuts the speech into chunks of up to 30 s, which are decoded in
        batches (with other requests' chunks too). `condition_on_previous_text` decodes in
        order instead, each window prompted with the text before it.
        """
        duration = round(len(audio) / WHISPER_RATE, 3)
        sequential = options.condition_on_previous_text or not options.drop_non_speech
        speech: list[tuple[float, float]] = []
        if options.drop_non_speech or duration > timeline.WINDOW_SECONDS:
            # Whisper invents "Thank you." on music and noise; Silero VAD (about 1/400 of real
            # time) tells whether there is any speech at all, and where.
            speech = timeline.speech_regions(audio, max_speech_s=None if sequential else timeline.CHUNK_SECONDS)
            if not speech and options.drop_non_speech:
                info = TranscriptInfo(language=options.language or "en", language_probability=0.0, duration=duration)
                return info, iter(())
        if not self.batching.long_audio and len(timeline.chunks_of(speech)) > 1:
            sequential = True  # this model is more accurate on long audio with the previous text
        if sequential:
            language, probability, pieces = self._sequential(audio, duration, speech, options)
        else:
            language, probability, pieces = self._batched(audio, speech, options)
        info = TranscriptInfo(language=language, language_probability=probability, duration=duration)
        return info, _kept(pieces, options.drop_non_speech)

    # ------------------------------------------------------------ batched

    def _batched(
        self, audio: np.ndarray, speech: list[tuple[float, float]], options: TranscriptionOptions
    ) -> tuple[str, float, Generator[FwSegment]]:
        chunks = iter(timeline.chunks_of(speech))
        temperatures = _fallback_temperatures(options.temperature)
        key = DecodeKey(
            language=options.language if self.multilingual else "en",
            task=options.task,
            prompt=options.prompt or None,
            beam_size=self.beam_size,
        )

        def submit(
            group: list[list[tuple[float, float]]], leader: Chunk | None
        ) -> list[tuple[list[tuple[float, float]], Chunk]]:
            """Queue chunks together, so that they can share a batch (a worker would take a lone
            one while the next one's features were still being computed). Each follows `leader`
            in its language, or the group's own first chunk."""
            made: list[tuple[list[tuple[float, float]], Chunk]] = []
            for pieces in group:
                features = self._features(audio, pieces)
                chunk = Chunk(
                    features=pad_or_trim(features),
                    duration=features.shape[-1] / self.model.frames_per_second,
                    key=key,
                    temperatures=temperatures,
                    follows=leader or (made[0][1] if made else None),
                    background=options.background,
                    words=options.word_timestamps or options.sentence_segments,
                )
                made.append((pieces, chunk))
            self.batcher.submit(*(chunk for _, chunk in made))
            return made

        # Where the language is not given, the first chunk's batch finds it (for the whole
        # request, as Whisper takes it from the first 30 s), and the others take it from there.
        size = self.batching.batch_size
        pending = deque(submit(list(itertools.islice(chunks, size)), None))
        first = pending[0][1]
        first.detected.wait()
        if first.future.done() and (error := first.future.exception()) is not None:
            raise error
        key = first.key
        tokenizer = self.batcher.tokenizer(key)
        # Two rounds of full batches in flight keep every worker's next batch full while the
        # results before it are read, without holding a long file's features all at once.
        ahead = 2 * self.batching.batch_size * self.batching.workers

        def segments() -> Generator[FwSegment]:
            try:
                while True:
                    while len(pending) < ahead and (group := list(itertools.islice(chunks, size))):
                        pending.extend(submit(group, first))
                    if not pending:
                        return
                    pieces, chunk = pending.popleft()
                    restored = timeline.restored(chunk.future.result(), pieces, tokenizer.encode)
                    yield from restored
            finally:
                for _, chunk in pending:
                    chunk.abandon()

        assert key.language is not None
        return key.language, float(first.language_probability), segments()

    def _features(self, audio: np.ndarray, pieces: list[tuple[float, float]]) -> np.ndarray:
        samples = np.concatenate([audio[int(a * WHISPER_RATE) : int(b * WHISPER_RATE)] for a, b in pieces])
        features: np.ndarray = self.model.feature_extractor(samples)
        return features[..., :-1]

    # ------------------------------------------------------------ sequential

    def _sequential(
        self, audio: np.ndarray, duration: float, speech: list[tuple[float, float]], options: TranscriptionOptions
    ) -> tuple[str, float, Generator[FwSegment]]:
        """Whisper's own loop, window by window past WINDOW_SECONDS (cut at pauses), so that
        faster-whisper's features (computed for all of its input at once) stay bounded; each
        window is prompted with the text before it."""
        windows = timeline.windows(duration, speech)
        first, info = self._window(audio, windows[0], options, options.language, options.prompt)

        def segments() -> Generator[FwSegment]:
            text = ""
            for index, window in enumerate(windows):
                pieces = first if index == 0 else self._window(audio, window, options, info.language, text)[0]
                for piece in pieces:
                    text = piece.text
                    yield piece

        return info.language, float(info.language_probability), segments()

    def _window(
        self,
        audio: np.ndarray,
        window: tuple[float, float],
        options: TranscriptionOptions,
        language: str | None,
        prompt: str | None,
    ) -> tuple[Iterator[FwSegment], FwInfo]:
        start, end = window
        pieces, info = self.model.transcribe(
            audio[int(start * WHISPER_RATE) : int(end * WHISPER_RATE)],
            language=language,
            task=options.task,
            beam_size=self.beam_size,
            temperature=_fallback_temperatures(options.temperature),
            initial_prompt=prompt or None,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
            condition_on_previous_text=True,
        )
        return (timeline.shifted(piece, start) for piece in pieces), info


def _kept(pieces: Generator[FwSegment], guard: bool) -> Generator[Segment]:
    """The segments to return, numbered; closing this stops the decoding behind it."""
    try:
        kept = (piece for piece in pieces if not guard or not hallucinated(piece))
        for index, piece in enumerate(kept):
            yield _segment(index, piece)
    finally:
        pieces.close()


def _fallback_temperatures(first: float) -> tuple[float, ...]:
    # The hosted API treats the given temperature as a starting point and raises it
    # when decoding fails its compression/log-probability checks.
    steps = [first]
    while steps[-1] + 0.2 <= 1.0 + 1e-9:
        steps.append(round(steps[-1] + 0.2, 2))
    return tuple(steps)


def _segment(index: int, s: FwSegment) -> Segment:
    words = tuple(
        Word(start=round(w.start, 3), end=round(w.end, 3), word=w.word, probability=round(w.probability, 4))
        for w in (s.words or ())
    )
    return Segment(
        id=index,
        seek=int(s.seek),
        start=round(float(s.start), 3),
        end=round(float(s.end), 3),
        text=s.text,
        tokens=tuple(s.tokens),
        temperature=float(s.temperature or 0.0),
        avg_logprob=float(s.avg_logprob),
        compression_ratio=float(s.compression_ratio),
        no_speech_prob=float(s.no_speech_prob),
        words=words,
    )
