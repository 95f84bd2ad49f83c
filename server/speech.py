"""The speech worker: render a request's sentences one by one through the device's gate, and encode them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from engines.audio_encode import Encoder
from engines.synthesizer import Synthesizer, VoiceSettings
from server.cancel import Cancellation
from server.gate import PriorityGate


@dataclass
class SpeechJob:
    synthesizer: Synthesizer
    sentences: list[list[str]]
    settings: VoiceSettings
    speed: float
    format_name: str
    gate: PriorityGate
    cancel: Cancellation
    in_use: Callable[[object], AbstractContextManager[None]]
    audio_seconds: float = 0.0

    def run(self, stop: threading.Event) -> Iterator[bytes]:
        encoder = Encoder(self.format_name, self.synthesizer.sample_rate)
        for index, sentence in enumerate(self.sentences):
            if stop.is_set():
                return
            self.cancel.check()
            # The sentence index is the priority: every stream's first sentence goes first.
            with self.in_use(self.synthesizer), self.gate.hold(priority=index):
                audio = self.synthesizer.render(sentence, self.settings, self.speed)
            self.audio_seconds += len(audio) / self.synthesizer.sample_rate
            data = encoder.push(audio)
            if data:
                yield data
        tail = encoder.finish()
        if tail:
            yield tail
