"""Server settings, read once from the environment (or given directly by tests)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    models_path: Path = PROJECT_ROOT / "models.toml"
    cache_dir: Path = Path.home() / ".cache" / "audio-server"
    api_keys: frozenset[str] = field(default_factory=frozenset)
    """Empty: the server is open (local development)."""
    max_upload_bytes: int = 25 * 1024 * 1024
    max_input_chars: int = 4096
    max_audio_seconds: float = 4 * 3600
    allow_download: bool = False
    """Fetch hub models missing from the cache when first loaded (needs internet)."""
    vad_default: bool = False
    preload: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        keys = {k.strip() for k in env.get("AUDIO_API_KEYS", "").split(",") if k.strip()}
        keys_file = env.get("AUDIO_API_KEYS_FILE")
        if keys_file:
            lines = Path(keys_file).read_text(encoding="utf-8").splitlines()
            keys |= {line.strip() for line in lines if line.strip() and not line.startswith("#")}
        return cls(
            models_path=Path(env.get("AUDIO_MODELS", defaults.models_path)),
            cache_dir=Path(env.get("AUDIO_CACHE_DIR", defaults.cache_dir)),
            api_keys=frozenset(keys),
            max_upload_bytes=int(float(env.get("AUDIO_MAX_UPLOAD_MB", 25)) * 1024 * 1024),
            max_input_chars=int(env.get("AUDIO_MAX_INPUT_CHARS", defaults.max_input_chars)),
            max_audio_seconds=float(env.get("AUDIO_MAX_AUDIO_SECONDS", defaults.max_audio_seconds)),
            allow_download=_flag(env.get("AUDIO_ALLOW_DOWNLOAD")),
            vad_default=_flag(env.get("AUDIO_VAD_DEFAULT")),
            preload=not _flag(env.get("AUDIO_NO_PRELOAD")),
        )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
