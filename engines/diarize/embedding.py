"""Resemblyzer's GE2E speaker encoder in numpy: 1.6 s of speech in, a 256-d voice print out."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engines.diarize.mel import HOP, SAMPLE_RATE, filterbank, mel_power

HIDDEN = 256
LAYERS = 3
WINDOW_FRAMES = 160
"""The 1.6 s of mel frames the encoder was trained on."""
MIN_SAMPLES = SAMPLE_RATE // 2
TARGET_DBFS = -30.0
BATCH = 64
"""Windows run through the LSTM at once: enough to keep the matrix products efficient, few enough
that a batch's gate inputs (frames x BATCH x 1024 floats) stay around 40 MB."""


@dataclass
class SpeakerEncoder:
    """GE2E (Wan et al. 2018) as trained by Resemblyzer 0.1.4: three LSTM layers of 256 over a 40-band mel
    power spectrogram, the last hidden state through Linear(256, 256) and a ReLU, L2-normalised."""

    layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    """Per LSTM layer: input weights (in, 4H) and recurrent weights (H, 4H), transposed for `x @ w`, and
    the summed biases (4H), with the gates reordered to input, forget, output, cell."""
    projection: np.ndarray
    """Linear(256, 256)'s weight, transposed."""
    projection_bias: np.ndarray
    bank: np.ndarray
    """The mel filterbank (40, 201)."""

    @classmethod
    def load(cls, path: Path) -> SpeakerEncoder:
        """Read Resemblyzer's `pretrained.pt` without torch (see `read_checkpoint`)."""
        with open(path, "rb") as f:
            state = read_checkpoint(f)["model_state"]
        layers = []
        for n in range(LAYERS):
            bias = state[f"lstm.bias_ih_l{n}"] + state[f"lstm.bias_hh_l{n}"]
            layers.append(
                (
                    np.ascontiguousarray(_gates(state[f"lstm.weight_ih_l{n}"]).T),
                    np.ascontiguousarray(_gates(state[f"lstm.weight_hh_l{n}"]).T),
                    _gates(bias),
                )
            )
        return cls(
            layers=layers,
            projection=np.ascontiguousarray(state["linear.weight"].T),
            projection_bias=state["linear.bias"],
            bank=filterbank(),
        )

    def embed(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """One L2-normalised voice print (N, 256) per window of 16 kHz mono speech, each at least 0.5 s
        (1.6 s is what the encoder knows best). Each window is first brought up to -30 dBFS if quieter."""
        if not windows:
            return np.zeros((0, HIDDEN), dtype=np.float32)
        return self._prints([self._mel(window, "window") for window in windows])

    def embed_utterance(self, audio: np.ndarray) -> np.ndarray:
        """A reference clip's voice print (256,): the L2-normalised mean of its 1.6 s windows at 50 %
        overlap, the last one flush with the clip's end, as Resemblyzer's `embed_utterance` (without its
        silence trimming: give it speech)."""
        mel = self._mel(audio, "clip")
        if len(mel) <= WINDOW_FRAMES:
            windows = [mel]
        else:
            hop = WINDOW_FRAMES // 2
            starts = [*range(0, len(mel) - WINDOW_FRAMES, hop), len(mel) - WINDOW_FRAMES]
            windows = [mel[s : s + WINDOW_FRAMES] for s in starts]
        return _unit(self._prints(windows).mean(axis=0))

    def _mel(self, audio: np.ndarray, what: str) -> np.ndarray:
        """The mel spectrogram of speech brought up to -30 dBFS if quieter, at least 0.5 s of it."""
        if len(audio) < MIN_SAMPLES:
            raise ValueError(f"a {what} of {len(audio)} samples is shorter than 0.5 s at 16 kHz")
        # librosa's centred frames add one past the audio's end; Resemblyzer's partials stop short of it.
        return mel_power(_louder(audio), self.bank)[: len(audio) // HOP]

    def _prints(self, mels: list[np.ndarray]) -> np.ndarray:
        """Voice prints of mel spectrograms (frames, 40), batched by length so that the LSTM runs over
        the frames each one has and no padding."""
        out = np.empty((len(mels), HIDDEN), dtype=np.float32)
        order = sorted(range(len(mels)), key=lambda i: len(mels[i]))
        for first in range(0, len(order), BATCH):
            batch = order[first : first + BATCH]
            lengths = np.array([len(mels[i]) for i in batch])
            frames = np.zeros((int(lengths.max()), len(batch), mels[batch[0]].shape[1]), dtype=np.float32)
            for column, i in enumerate(batch):
                frames[: lengths[column], column] = mels[i]
            last = self._lstm(frames, lengths)
            out[batch] = np.maximum(last @ self.projection + self.projection_bias, 0.0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: np.ndarray = out / np.maximum(norms, 1e-12)
        return result

    def _lstm(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The last layer's hidden state after each sequence's own last frame; x is (time, batch, 40)."""
        steps, batch = x.shape[:2]
        ragged = bool((lengths != steps).any())
        for w_in, w_rec, bias in self.layers:
            # Every step's input projection at once, one matrix product; only the recurrence is per step.
            gates_in = (x.reshape(steps * batch, -1) @ w_in + bias).reshape(steps, batch, 4 * HIDDEN)
            outputs = np.empty((steps, batch, HIDDEN), dtype=np.float32)
            h = np.zeros((batch, HIDDEN), dtype=np.float32)
            c = np.zeros((batch, HIDDEN), dtype=np.float32)
            gates = np.empty((batch, 4 * HIDDEN), dtype=np.float32)
            for t in range(steps):
                np.matmul(h, w_rec, out=gates)
                gates += gates_in[t]
                sigmoid = gates[:, : 3 * HIDDEN]
                # sigmoid(x) = (1 + tanh(x / 2)) / 2: one transcendental call for three gates.
                sigmoid *= 0.5
                np.tanh(sigmoid, out=sigmoid)
                sigmoid += 1.0
                sigmoid *= 0.5
                cell = np.tanh(gates[:, 3 * HIDDEN :])
                new_c = gates[:, HIDDEN : 2 * HIDDEN] * c + gates[:, :HIDDEN] * cell
                new_h = gates[:, 2 * HIDDEN : 3 * HIDDEN] * np.tanh(new_c)
                if ragged:
                    # A sequence that has ended keeps its state: its last frame's is the one read out.
                    going = (t < lengths)[:, None]
                    new_c = np.where(going, new_c, c)
                    new_h = np.where(going, new_h, h)
                c, h = new_c, new_h
                outputs[t] = h
            x = outputs
        return h


def _gates(weights: np.ndarray) -> np.ndarray:
    """PyTorch stacks an LSTM's gates as input, forget, cell, output; reorder them to input, forget,
    output, cell, so that the three sigmoid gates are one slice."""
    i, f, g, o = np.split(weights, 4, axis=0)
    return np.ascontiguousarray(np.concatenate([i, f, o, g], axis=0))


def _louder(audio: np.ndarray) -> np.ndarray:
    """Raised to -30 dBFS if it is quieter (Resemblyzer's `normalize_volume(increase_only=True)`)."""
    audio = np.asarray(audio, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if rms <= 0.0:
        return audio
    change_db = TARGET_DBFS - 20.0 * np.log10(rms)
    return audio * np.float32(10.0 ** (change_db / 20.0)) if change_db > 0 else audio


def _unit(vector: np.ndarray) -> np.ndarray:
    result: np.ndarray = (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
    return result


# ------------------------------------------------------------------ reading torch.save's legacy format


def read_checkpoint(f: BinaryIO) -> dict[str, Any]:
    """A file written by `torch.save` before PyTorch 1.6 (a run of pickles, then the raw storages), read
    with numpy alone. Only float32 tensors, dicts and plain values are accepted: any other class in
    the file is refused, so reading it runs no code from it."""
    if _Restricted(f).load() != _LEGACY_MAGIC:
        raise ValueError("not a legacy torch.save file (wrong magic number)")
    if _Restricted(f).load() != _LEGACY_PROTOCOL:
        raise ValueError("a torch.save file of an unknown protocol version")
    if not _Restricted(f).load().get("little_endian"):
        raise ValueError("a big-endian torch.save file")
    objects = _Restricted(f)
    result = objects.load()
    keys = _Restricted(f).load()
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        count = int(np.frombuffer(f.read(8), dtype="<i8")[0])
        expected = objects.sizes.get(key)
        if expected is None or count != expected:
            raise ValueError(f"storage {key}: {count} elements, expected {expected}")
        storages[key] = np.frombuffer(f.read(4 * count), dtype="<f4")
        if len(storages[key]) != count:
            raise ValueError(f"storage {key}: the file ends early")
    return _resolve(result, storages)  # type: ignore[no-any-return]


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


@dataclass(frozen=True)
class _Tensor:
    """A tensor as the pickle describes it: a view into a storage read after the pickle."""

    storage: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _Float32:
    """Stands for torch.FloatStorage in the pickle."""


class _StateDict(dict[str, Any]):
    """Stands for collections.OrderedDict: a state dict's pickle sets its `_metadata` attribute, which a
    plain dict cannot hold; `_resolve` hands back a plain dict."""


class _Restricted(pickle.Unpickler):
    def __init__(self, f: BinaryIO) -> None:
        super().__init__(f)
        self.sizes: dict[str, int] = {}

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch", "FloatStorage"): _Float32,
            ("collections", "OrderedDict"): _StateDict,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a speaker encoder checkpoint")
        return allowed[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and pid[1] is _Float32):
            raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
        _, _, key, _, count, view = pid
        if view is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        self.sizes[str(key)] = int(count)
        return str(key)


def _rebuild_tensor(storage: str, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> _Tensor:
    return _Tensor(storage, int(offset), tuple(shape), tuple(stride))


def _resolve(value: Any, storages: dict[str, np.ndarray]) -> Any:
    if isinstance(value, _Tensor):
        data = storages[value.storage]
        end = value.offset + sum((n - 1) * s for n, s in zip(value.shape, value.stride, strict=True)) + 1
        if value.offset < 0 or end > len(data):
            raise ValueError(f"a tensor reaches past its storage {value.storage}")
        view = np.lib.stride_tricks.as_strided(
            data[value.offset :], shape=value.shape, strides=tuple(4 * s for s in value.stride)
        )
        return np.array(view, dtype=np.float32)
    if isinstance(value, dict):
        return {k: _resolve(v, storages) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_resolve(v, storages) for v in value)
    return value
