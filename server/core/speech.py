"""The speech worker: render a request's sentences one by one through the device's gate, and encode them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from engines.audio.encode import Bitrates, Encoder
from engines.base import Piece, SpeechSettings, Synthesizer
from server.cancel import Cancellation
from server.core.gate import PriorityGate


@dataclass
class SpeechJob:
    synthesizer: Synthesizer
    pieces: list[Piece]
    settings: SpeechSettings
    speed: float
    format_name: str
    bitrates: Bitrates
    gate: PriorityGate
    cancel: Cancellation
    in_use: Callable[[object], AbstractContextManager[None]]
    audio_seconds: float = 0.0

    def run(self, stop: threading.Event) -> Iterator[bytes]:
        rate = self.synthesizer.info.sample_rate
        encoder = Encoder(self.format_name, rate, self.bitrates)
        for index, piece in enumerate(self.pieces):
            if stop.is_set():
                return
            self.cancel.check()
            # The piece's index is the priority: every stream's first piece goes first.
            with self.in_use(self.synthesizer), self.gate.hold(priority=index):
                audio = self.synthesizer.render(piece.units, self.settings, self.speed)
            # The pause between sentences keeps pace with the speech.
            pause = np.zeros(int(rate * piece.pause_after_s / self.speed), np.float32)
            self.audio_seconds += (len(audio) + len(pause)) / rate
            data = encoder.push(audio) + encoder.push(pause)
            if data:
                yield data
        tail = encoder.finish()
        if tail:
            yield tail
