"""The model registry: `models.toml` parsed once into frozen, validated objects."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from engines.models import fields
from engines.models.fields import RegistryError as RegistryError  # raised here, imported from here

Task = Literal["transcription", "synthesis", "diarization"]
TASKS = ("transcription", "synthesis", "diarization")
DEVICES = ("auto", "cpu", "cuda")
GENDERS = ("", "female", "male")
_PIPER_NAME = re.compile(r"^([a-z]{2,3})_([A-Z]{2})-")
COMPUTE_TYPES = ("auto", "default", "int8", "int8_float16", "int8_float32", "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class Source:
    """Where a model's files come from."""

    path: Path | None = None
    """A local directory (Whisper) or `.onnx` file (Piper)."""
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Target file name -> `package:relative/path` pieces, concatenated in order."""
    sha256: Mapping[str, str] = field(default_factory=dict)
    """Target file name -> expected sha256 of the assembled file."""
    hub: str | None = None
    """A Hugging Face repository id."""
    revision: str | None = None
    hub_files: tuple[str, ...] = ()
    """For a hub source: the files to fetch (all of the repository when empty)."""


@dataclass(frozen=True)
class Limits:
    concurrency: int
    """Requests that run at once on this model."""
    max_queue: int
    """Requests that may wait for a slot; the next one is refused with 429."""
    timeout_s: float
    """Longest a request may wait plus run before it is abandoned."""


@dataclass(frozen=True)
class Decoding:
    """How a Whisper model decodes; 0 leaves a number to the device (see `engines.loader.batching_for`)."""

    batch_size: int = 0
    """Chunks of 30 s decoded in one call, from one request or several."""
    batch_wait_ms: float = 5.0
    """How long a chunk waits for others to share its batch."""
    num_workers: int = 0
    """Batches decoded at once (CTranslate2 workers)."""
    cpu_threads: int = 0
    """Threads each worker uses on the CPU."""
    long_audio: str = "batched"
    """'batched', or 'sequential': audio longer than one chunk decoded in order, each window
    prompted with the text before it (for a model that is more accurate so)."""


@dataclass(frozen=True)
class ModelEntry:
    slug: str
    task: Task
    description: str
    aliases: tuple[str, ...]
    source: Source | None
    """None for synthesis models, whose weights are the voices'."""
    device: str
    compute_type: str
    preload: bool
    idle_unload_s: float
    limits: Limits
    beam_size: int = 5
    decoding: Decoding = field(default_factory=Decoding)
    engine: str = "whisper"
    """Which engine runs a transcription model (`engines.loader.TRANSCRIBERS`) or a diarization model
    (`engines.loader.DIARIZERS`); synthesis models take the engine of each voice."""
    license: str = ""
    """The weights' licence, SPDX-style ("MIT", "Apache-2.0"); empty when unknown."""
    diarizing_aliases: tuple[str, ...] = ()
    """Names that resolve to this transcription model with speaker diarization switched on."""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a request may give it: its slug, its aliases and its diarizing aliases."""
        return (self.slug, *self.aliases, *self.diarizing_aliases)

    @property
    def english_only(self) -> bool:
        """Whisper's English-only models are named so: tiny.en, small.en, distil-small.en."""
        return any(name.endswith(".en") for name in (self.slug, *self.aliases))


@dataclass(frozen=True)
class VoiceEntry:
    """A voice's files, known by the voice's own name."""

    name: str
    source: Source
    engine: str = "piper"
    """Which engine speaks it (`engines.loader.SYNTHESIZERS`)."""
    license: str = ""
    """The voice's licence, SPDX-style ("MIT", "CC-BY-4.0"); empty when unknown."""
    language: str = ""
    """What the voice speaks, BCP 47 in lower case (en-us, ja); empty for a voice whose own files say
    (Piper's config), known once it loads."""
    gender: str = ""
    """'female' or 'male' as the voice sounds, for listings and for matching names to voices; empty: unsaid."""
    style: str = ""
    """For an engine whose files hold several voices (Kokoro's voice packs), the one this entry speaks."""

    @property
    def speaks(self) -> str:
        """`language`, or for a voice named as Piper's are (en_US-amy-medium), the language of its name;
        empty when neither says."""
        named = _PIPER_NAME.match(self.name)
        return self.language or (f"{named.group(1)}-{named.group(2).lower()}" if named else "")


@dataclass(frozen=True)
class VoiceChoice:
    """A Piper voice (and speaker, for a multi-speaker voice) that a voice name prefers."""

    voice: str
    speaker_id: int | None = None


@dataclass(frozen=True)
class VoiceMapping:
    """What a `voice` name in a request means: a Piper voice and how to speak it."""

    name: str
    voice: str
    speaker_id: int | None = None
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    prefer: tuple[VoiceChoice, ...] = ()
    """Voices to use instead, the first one installed winning; `voice` (with the prosody settings
    above, which tell names apart on one voice) is the fallback when none of them is."""

    def choose(self, installed: Collection[str]) -> VoiceMapping:
        """This mapping as it stands with the `installed` voices."""
        for choice in self.prefer:
            if choice.voice in installed:
                return VoiceMapping(name=self.name, voice=choice.voice, speaker_id=choice.speaker_id)
        return self


@dataclass(frozen=True)
class Registry:
    models: Mapping[str, ModelEntry]
    aliases: Mapping[str, str]
    voices: Mapping[str, VoiceEntry]
    voice_map: Mapping[str, VoiceMapping]
    diarizing: frozenset[str] = frozenset()
    """The names (in `aliases`) that ask a transcription model for speaker diarization too."""

    def resolve(self, slug: str) -> ModelEntry | None:
        canonical = self.aliases.get(slug, slug)
        return self.models.get(canonical)


def parse_registry(raw: Mapping[str, Any], base_dir: Path) -> Registry:
    fields.only_keys(raw, "", {"defaults", "models", "voices", "voice_map"})
    given = fields.table(raw, "defaults", "defaults")
    fields.only_keys(given, "defaults", set(_DEFAULTS))
    defaults = {name: fields.get(given, name, kind, "defaults", value) for name, (kind, value) in _DEFAULTS.items()}

    voices: dict[str, VoiceEntry] = {}
    for name, body in fields.table(raw, "voices", "voices").items():
        key = f"voices.{name}"
        body = fields.as_table(body, key)
        fields.only_keys(body, key, {"source", "engine", "license", "language", "gender", "style"})
        gender = fields.get(body, "gender", str, key, "")
        if gender not in GENDERS:
            raise RegistryError(f"{key}.gender: must be 'female' or 'male', not {gender!r}")
        voices[name] = VoiceEntry(
            name=name,
            source=_parse_source(body.get("source"), f"{key}.source", base_dir),
            engine=_engine(body, key, "piper"),
            license=fields.get(body, "license", str, key, ""),
            language=fields.get(body, "language", str, key, "").lower().replace("_", "-"),
            gender=gender,
            style=fields.get(body, "style", str, key, ""),
        )

    voice_map: dict[str, VoiceMapping] = {}
    for name, body in fields.table(raw, "voice_map", "voice_map").items():
        key = f"voice_map.{name}"
        body = fields.as_table(body, key)
        fields.only_keys(body, key, {"voice", "speaker_id", "length_scale", "noise_scale", "noise_w_scale", "prefer"})
        voice = fields.get(body, "voice", str, key)
        if voice not in voices:
            raise RegistryError(f"{key}.voice: unknown voice {voice!r} (not under [voices])")
        voice_map[name] = VoiceMapping(
            name=name,
            voice=voice,
            speaker_id=fields.get(body, "speaker_id", int, key, None),
            length_scale=fields.positive(body, "length_scale", key),
            noise_scale=fields.positive(body, "noise_scale", key),
            noise_w_scale=fields.positive(body, "noise_w_scale", key),
            prefer=tuple(_choice(item, f"{key}.prefer") for item in fields.get(body, "prefer", list, key, [])),
        )

    models: dict[str, ModelEntry] = {}
    aliases: dict[str, str] = {}
    for slug, body in fields.table(raw, "models", "models").items():
        entry = _parse_model(slug, fields.as_table(body, f"models.{slug}"), defaults, base_dir)
        models[slug] = entry
        for field_name, names in (("aliases", entry.aliases), ("diarizing_aliases", entry.diarizing_aliases)):
            for alias in names:
                if alias in aliases or alias in models:
                    raise RegistryError(f"models.{slug}.{field_name}: {alias!r} is already taken")
                aliases[alias] = slug
    for alias, slug in aliases.items():
        if alias in models:
            raise RegistryError(f"models.{slug}.aliases: {alias!r} is also a model slug")
    if not models:
        raise RegistryError("models: no model is defined")
    return Registry(
        models=MappingProxyType(models),
        aliases=MappingProxyType(aliases),
        voices=MappingProxyType(voices),
        voice_map=MappingProxyType(voice_map),
        diarizing=frozenset(a for entry in models.values() for a in entry.diarizing_aliases),
    )


def _choice(item: Any, key: str) -> VoiceChoice:
    """`"voice-name"` or `{ voice = "voice-name", speaker_id = 3 }`."""
    if isinstance(item, str) and item:
        return VoiceChoice(voice=item)
    if isinstance(item, dict):
        fields.only_keys(item, key, {"voice", "speaker_id"})
        speaker = fields.get(item, "speaker_id", int, key, None)
        if speaker is not None and speaker < 0:
            raise RegistryError(f"{key}.speaker_id: must be 0 or more")
        return VoiceChoice(voice=fields.get(item, "voice", str, key), speaker_id=speaker)
    raise RegistryError(f"{key}: expected voice names or {{ voice, speaker_id }} tables")


_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "device": (str, "auto"),
    "max_queue": (int, 16),
    "timeout_s": ((int, float), 300),
    "idle_unload_s": ((int, float), 0),
    "concurrency": (int, 0),
}
"""What `[defaults]` may set for every model: each key's type and its value when unset."""

_MODEL_KEYS = {
    "task",
    "engine",
    "description",
    "aliases",
    "source",
    "device",
    "compute_type",
    "preload",
    "idle_unload_s",
    "concurrency",
    "max_queue",
    "timeout_s",
    "beam_size",
    "batch_size",
    "batch_wait_ms",
    "num_workers",
    "cpu_threads",
    "long_audio",
    "license",
    "diarizing_aliases",
}


def _parse_model(slug: str, body: Mapping[str, Any], defaults: Mapping[str, Any], base_dir: Path) -> ModelEntry:
    key = f"models.{slug}"
    fields.only_keys(body, key, _MODEL_KEYS)
    task = fields.get(body, "task", str, key)
    if task not in TASKS:
        raise RegistryError(f"{key}.task: must be 'transcription', 'synthesis' or 'diarization', not {task!r}")
    device = fields.get(body, "device", str, key, defaults["device"])
    if device not in DEVICES:
        raise RegistryError(f"{key}.device: must be one of {', '.join(DEVICES)}, not {device!r}")
    compute_type = fields.get(body, "compute_type", str, key, "auto")
    if compute_type not in COMPUTE_TYPES:
        raise RegistryError(f"{key}.compute_type: must be one of {', '.join(COMPUTE_TYPES)}")
    source = None
    engine = _engine(body, key, {"transcription": "whisper", "diarization": "diarizer"}.get(task, ""))
    if task == "synthesis" and engine:
        raise RegistryError(f"{key}.engine: synthesis models take the engine of each voice ([voices])")
    if task != "synthesis":
        source = _parse_source(body.get("source"), f"{key}.source", base_dir)
    elif "source" in body:
        raise RegistryError(f"{key}.source: synthesis models take their weights from [voices]")
    aliases = fields.get(body, "aliases", list, key, [])
    diarizing = fields.get(body, "diarizing_aliases", list, key, [])
    for name, names in (("aliases", aliases), ("diarizing_aliases", diarizing)):
        if not all(isinstance(a, str) and a for a in names):
            raise RegistryError(f"{key}.{name}: must be a list of non-empty strings")
    if diarizing and task != "transcription":
        raise RegistryError(f"{key}.diarizing_aliases: only a transcription model diarizes")
    # 0 means "pick for the device" and is settled when the model loads.
    concurrency = fields.get(body, "concurrency", int, key, defaults["concurrency"])
    limits = Limits(
        concurrency=concurrency,
        max_queue=fields.get(body, "max_queue", int, key, defaults["max_queue"]),
        timeout_s=float(fields.get(body, "timeout_s", (int, float), key, defaults["timeout_s"])),
    )
    if limits.concurrency < 0 or limits.max_queue < 0 or limits.timeout_s <= 0:
        raise RegistryError(f"{key}: concurrency and max_queue must be >= 0 and timeout_s > 0")
    beam_size = fields.get(body, "beam_size", int, key, 5)
    if beam_size < 1:
        raise RegistryError(f"{key}.beam_size: must be at least 1")
    decoding = Decoding(
        batch_size=fields.get(body, "batch_size", int, key, 0),
        batch_wait_ms=float(fields.get(body, "batch_wait_ms", (int, float), key, 5.0)),
        num_workers=fields.get(body, "num_workers", int, key, 0),
        cpu_threads=fields.get(body, "cpu_threads", int, key, 0),
        long_audio=fields.get(body, "long_audio", str, key, "batched"),
    )
    if decoding.long_audio not in ("batched", "sequential"):
        raise RegistryError(f"{key}.long_audio: must be 'batched' or 'sequential'")
    if min(decoding.batch_size, decoding.num_workers, decoding.cpu_threads) < 0 or decoding.batch_wait_ms < 0:
        raise RegistryError(f"{key}: batch_size, batch_wait_ms, num_workers and cpu_threads must be >= 0")
    return ModelEntry(
        slug=slug,
        task=task,
        description=fields.get(body, "description", str, key, ""),
        aliases=tuple(aliases),
        source=source,
        device=device,
        compute_type=compute_type,
        preload=fields.get(body, "preload", bool, key, False),
        idle_unload_s=float(fields.get(body, "idle_unload_s", (int, float), key, defaults["idle_unload_s"])),
        limits=limits,
        beam_size=beam_size,
        decoding=decoding,
        engine=engine,
        license=fields.get(body, "license", str, key, ""),
        diarizing_aliases=tuple(diarizing),
    )


def _parse_source(raw: Any, key: str, base_dir: Path) -> Source:
    if raw is None:
        raise RegistryError(f"{key}: missing (give path, files or hub)")
    body = fields.as_table(raw, key)
    fields.only_keys(body, key, {"path", "files", "sha256", "hub", "revision", "hub_files"})
    kinds = [k for k in ("path", "files", "hub") if k in body]
    if len(kinds) != 1:
        raise RegistryError(f"{key}: give exactly one of path, files or hub")
    sha256 = {str(k): str(v).lower() for k, v in fields.get(body, "sha256", dict, key, {}).items()}
    for name, digest in sha256.items():
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise RegistryError(f"{key}.sha256.{name}: not a sha256 hex digest")
    if "path" in body:
        path = Path(fields.get(body, "path", str, key)).expanduser()
        return Source(path=path if path.is_absolute() else base_dir / path, sha256=sha256)
    if "files" in body:
        files: dict[str, tuple[str, ...]] = {}
        for name, pieces in fields.get(body, "files", dict, key).items():
            pieces = [pieces] if isinstance(pieces, str) else pieces
            if not pieces or not all(isinstance(p, str) and ":" in p for p in pieces):
                raise RegistryError(f"{key}.files.{name}: expected 'package:path' or a list of them")
            files[name] = tuple(pieces)
        missing = sorted(set(files) - set(sha256))
        if missing:
            raise RegistryError(f"{key}.sha256.{missing[0]}: packaged files must be pinned by sha256")
        return Source(files=files, sha256=sha256)
    hub_files = fields.get(body, "hub_files", list, key, [])
    return Source(
        hub=fields.get(body, "hub", str, key),
        revision=fields.get(body, "revision", str, key, None),
        hub_files=tuple(str(f) for f in hub_files),
        sha256=sha256,
    )


def _engine(body: Mapping[str, Any], key: str, default: str) -> str:
    engine = fields.get(body, "engine", str, key, default)
    if engine != default and not engine.replace("_", "").replace("-", "").isalnum():
        raise RegistryError(f"{key}.engine: an engine's name is letters, digits, - and _, not {engine!r}")
    return str(engine)
