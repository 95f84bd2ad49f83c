"""Server settings, read once from the environment (or given directly by tests), each checked by name."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


class ConfigError(ValueError):
    """An environment variable holds something the server cannot use; the message names it."""


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
    cors_origins: tuple[str, ...] = ()
    """Origins whose pages may call the server from a browser; `*` for any. Empty: CORS is off."""
    log_format: str = "text"
    """'text' or 'json': one line per request either way."""
    keep_alive_s: float = 5.0
    """How long an idle keep-alive connection stays open."""
    header_timeout_s: float = 10.0
    """Longest a client may take to send a request's line and headers."""
    body_idle_timeout_s: float = 30.0
    """Longest an upload may stall with no bytes arriving."""
    min_upload_kbps: float = 32.0
    """Slowest average rate an upload may keep once past `upload_grace_s` (0: no minimum)."""
    upload_grace_s: float = 10.0
    max_uploads: int = 16
    """Uploads being received at once; more get 503 with Retry-After."""
    max_spool_bytes: int = 512 * 1024 * 1024
    """Bytes of uploads being received at once, all of them together; past it, 503."""
    sentence_pause_s: float = 0.2
    """Silence between synthesized sentences (divided by the speed)."""
    paragraph_pause_s: float = 0.6
    """Silence at a paragraph break (a blank line in the input)."""
    normalize_text: bool = True
    """Spell out markup, links, numbers and symbols before speaking (a request's `normalize` overrides)."""
    wyoming_uri: str | None = None
    """tcp://HOST:PORT or unix://PATH: also speak the Wyoming protocol there (Home Assistant)."""
    wyoming_zeroconf: bool = False
    """Announce the Wyoming listener on the local network (mDNS), so Home Assistant finds it."""
    wyoming_idle_s: float = 300.0
    """A Wyoming connection that sends nothing for this long is closed."""
    mp3_kbps: int = 64
    opus_kbps: int = 32
    aac_kbps: int = 64
    work_base_s: float = 60.0
    work_per_audio_s: float = 1.0
    """A transcription request's work, once it has its slot, may take `work_base_s` plus this many
    seconds per second of its audio (a model's `timeout_s` bounds only the wait for the slot)."""
    jobs_database_url: str | None = None
    """postgresql://… shared by every replica; None: SQLite in the cache directory."""
    jobs_retention_h: float = 168.0
    """Finished jobs are deleted, with their audio, this long after they finish."""
    max_job_upload_bytes: int = 2048 * 1024 * 1024
    max_job_audio_seconds: float = 24 * 3600
    jobs_window_s: float = 60.0
    """A job is transcribed (and stored) this much audio at a time."""
    jobs_lease_s: float = 30.0
    """A running job's claim lasts this long unless its worker renews it; then another takes it up."""
    jobs_workers: int = 1
    """Jobs this replica runs at once (0: it takes submissions but runs none)."""
    page_job_seconds: float = 600.0
    """The page sends recordings longer than this as jobs."""
    realtime_idle_s: float = 120.0
    """A live transcription session that sends no event for this long is closed."""
    realtime_max_s: float = 3600.0
    """The longest a live transcription session lasts."""
    ws_ping_s: float = 20.0
    """WebSockets are pinged this often (a client that stops answering is dropped)."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    """Serve HTTPS and WSS with this certificate (chain) and private key, both PEM."""

    @property
    def overlay_dirs(self) -> tuple[Path, Path]:
        """Registry fragments laid over `models.toml`: a site's own beside it, then what `models pull`
        and `models import` wrote into the cache."""
        return (self.models_path.parent / "models.d", self.cache_dir / "models.d")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the AUDIO_* variables; a bad value raises ConfigError naming the variable."""
        env = os.environ if env is None else env
        d = cls()
        read = _Reader(env)
        keys = {k.strip() for k in env.get("AUDIO_API_KEYS", "").split(",") if k.strip()}
        keys_file = env.get("AUDIO_API_KEYS_FILE")
        if keys_file:
            try:
                lines = Path(keys_file).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"AUDIO_API_KEYS_FILE: cannot read {keys_file}: {exc.strerror}") from None
            keys |= {line.strip() for line in lines if line.strip() and not line.startswith("#")}
        log_format = env.get("AUDIO_LOG_FORMAT", d.log_format).strip().lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"AUDIO_LOG_FORMAT: expected 'text' or 'json', got {log_format[:40]!r}")
        return cls(
            models_path=Path(env.get("AUDIO_MODELS", d.models_path)),
            cache_dir=Path(env.get("AUDIO_CACHE_DIR", d.cache_dir)),
            api_keys=frozenset(keys),
            max_upload_bytes=int(read.number("AUDIO_MAX_UPLOAD_MB", 25, minimum=0.001) * 1024 * 1024),
            max_input_chars=read.integer("AUDIO_MAX_INPUT_CHARS", d.max_input_chars, minimum=1),
            max_audio_seconds=read.number("AUDIO_MAX_AUDIO_SECONDS", d.max_audio_seconds, minimum=1),
            allow_download=read.flag("AUDIO_ALLOW_DOWNLOAD"),
            vad_default=read.flag("AUDIO_VAD_DEFAULT"),
            preload=not read.flag("AUDIO_NO_PRELOAD"),
            cors_origins=tuple(o.strip() for o in env.get("AUDIO_CORS_ORIGINS", "").split(",") if o.strip()),
            log_format=log_format,
            keep_alive_s=read.number("AUDIO_KEEP_ALIVE_S", d.keep_alive_s, minimum=0.1),
            header_timeout_s=read.number("AUDIO_HEADER_TIMEOUT_S", d.header_timeout_s, minimum=0.1),
            body_idle_timeout_s=read.number("AUDIO_BODY_IDLE_TIMEOUT_S", d.body_idle_timeout_s, minimum=0.1),
            min_upload_kbps=read.number("AUDIO_MIN_UPLOAD_KBPS", d.min_upload_kbps, minimum=0),
            upload_grace_s=read.number("AUDIO_UPLOAD_GRACE_S", d.upload_grace_s, minimum=0),
            max_uploads=read.integer("AUDIO_MAX_UPLOADS", d.max_uploads, minimum=1),
            max_spool_bytes=int(read.number("AUDIO_MAX_SPOOL_MB", 512, minimum=1) * 1024 * 1024),
            sentence_pause_s=read.number("AUDIO_SENTENCE_PAUSE_S", d.sentence_pause_s, minimum=0),
            paragraph_pause_s=read.number("AUDIO_PARAGRAPH_PAUSE_S", d.paragraph_pause_s, minimum=0),
            normalize_text=not read.flag("AUDIO_NO_TEXT_NORMALIZATION"),
            wyoming_uri=_wyoming_uri(env.get("AUDIO_WYOMING_URI")),
            wyoming_zeroconf=read.flag("AUDIO_WYOMING_ZEROCONF"),
            wyoming_idle_s=read.number("AUDIO_WYOMING_IDLE_S", d.wyoming_idle_s, minimum=1),
            mp3_kbps=read.integer("AUDIO_MP3_KBPS", d.mp3_kbps, minimum=8),
            opus_kbps=read.integer("AUDIO_OPUS_KBPS", d.opus_kbps, minimum=6),
            aac_kbps=read.integer("AUDIO_AAC_KBPS", d.aac_kbps, minimum=16),
            work_base_s=read.number("AUDIO_WORK_BASE_S", d.work_base_s, minimum=0),
            work_per_audio_s=read.number("AUDIO_WORK_PER_AUDIO_SECOND", d.work_per_audio_s, minimum=0),
            jobs_database_url=_database_url(env.get("AUDIO_JOBS_DATABASE_URL")),
            jobs_retention_h=read.number("AUDIO_JOBS_RETENTION_H", d.jobs_retention_h, minimum=0),
            max_job_upload_bytes=int(read.number("AUDIO_MAX_JOB_UPLOAD_MB", 2048, minimum=0.001) * 1024 * 1024),
            max_job_audio_seconds=read.number("AUDIO_MAX_JOB_AUDIO_SECONDS", d.max_job_audio_seconds, minimum=1),
            jobs_window_s=read.number("AUDIO_JOBS_WINDOW_S", d.jobs_window_s, minimum=5),
            jobs_lease_s=read.number("AUDIO_JOBS_LEASE_S", d.jobs_lease_s, minimum=1),
            jobs_workers=read.integer("AUDIO_JOBS_WORKERS", d.jobs_workers, minimum=0),
            page_job_seconds=read.number("AUDIO_PAGE_JOB_SECONDS", d.page_job_seconds, minimum=1),
            realtime_idle_s=read.number("AUDIO_REALTIME_IDLE_S", d.realtime_idle_s, minimum=1),
            realtime_max_s=read.number("AUDIO_REALTIME_MAX_S", d.realtime_max_s, minimum=1),
            ws_ping_s=read.number("AUDIO_WS_PING_S", d.ws_ping_s, minimum=0.1),
            **_tls(env.get("AUDIO_TLS_CERT"), env.get("AUDIO_TLS_KEY")),
        )


def _tls(cert: str | None, key: str | None) -> dict[str, Path]:
    """The certificate and key, both or neither, each a file that exists."""
    given = {name: Path(value) for name, value in (("tls_cert", cert), ("tls_key", key)) if value and value.strip()}
    if len(given) == 1:
        raise ConfigError("AUDIO_TLS_CERT and AUDIO_TLS_KEY (--tls-cert, --tls-key) go together: give both or neither")
    for name, path in given.items():
        if not path.is_file():
            variable = "AUDIO_TLS_CERT" if name == "tls_cert" else "AUDIO_TLS_KEY"
            raise ConfigError(f"{variable}: {path} is not a readable file")
    return given


def _database_url(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    value = value.strip()
    if not re.match(r"(postgresql|postgres|postgresql\+psycopg|sqlite)://", value):
        raise ConfigError(
            "AUDIO_JOBS_DATABASE_URL: expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"
        )
    return value


def _wyoming_uri(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    value = value.strip()
    if not re.fullmatch(r"tcp://[^/:]+:\d{1,5}|unix://.+", value):
        raise ConfigError(f"AUDIO_WYOMING_URI: expected tcp://HOST:PORT or unix://PATH, got {value[:60]!r}")
    return value


@dataclass(frozen=True)
class _Reader:
    env: Mapping[str, str]

    def number(self, name: str, default: float, minimum: float) -> float:
        return self._parse(name, default, float, "a number", minimum)

    def integer(self, name: str, default: int, minimum: int) -> int:
        return self._parse(name, default, int, "a whole number", minimum)

    def flag(self, name: str) -> bool:
        value = self.env.get(name, "").strip().lower()
        if value in ("", "0", "false", "no", "off"):
            return False
        if value in ("1", "true", "yes", "on"):
            return True
        raise ConfigError(f"{name}: expected 1/true/yes/on or 0/false/no/off, got {value[:40]!r}")

    def _parse(self, name: str, default: T, kind: Callable[[str], T], what: str, minimum: float) -> T:
        raw = self.env.get(name)
        if raw is None or not raw.strip():
            return default
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}: expected {what}, got {raw[:40]!r}") from None
        if not math.isfinite(float(value)) or float(value) < minimum:  # type: ignore[arg-type]
            raise ConfigError(f"{name}: must be a finite number of at least {minimum:g}, got {raw[:40]!r}")
        return value
