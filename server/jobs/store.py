"""Jobs kept in SQL: SQLite in the cache directory by default, or one PostgreSQL database that every
replica shares. A job's row, its audio (in parts) and each finished window's segments are written as
they happen, so any replica can pick a job up where the last one left it.

Every call blocks: the server calls them from worker threads.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engines.base import Segment, TranscriptionOptions, Word

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed")
PART_BYTES = 4 * 1024 * 1024
"""A job's audio is stored in parts of this size: no value near a database's limit, and reading a
window needs only the parts under it."""

metadata = sa.MetaData()
jobs = sa.Table(
    "audio_jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("response_format", sa.String(16), nullable=False),
    sa.Column("filename", sa.String(300), nullable=True),
    sa.Column("audio_bytes", sa.BigInteger, nullable=False),
    sa.Column("audio_seconds_total", sa.Float, nullable=True),
    sa.Column("audio_seconds_done", sa.Float, nullable=False),
    sa.Column("next_sample", sa.BigInteger, nullable=False),
    sa.Column("chunks_done", sa.Integer, nullable=False),
    sa.Column("language", sa.String(16), nullable=True),
    sa.Column("language_probability", sa.Float, nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires", sa.Float, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("speakers", sa.Text, nullable=True),
    sa.Index("audio_jobs_by_state", "state", "created_at"),
    sa.Index("audio_jobs_by_owner", "owner", "created_at"),
)
chunks = sa.Table(
    "audio_job_chunks",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("start_s", sa.Float, nullable=False),
    sa.Column("end_s", sa.Float, nullable=False),
    sa.Column("segments", sa.Text, nullable=False),
)
audio_parts = sa.Table(
    "audio_job_audio",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class Speakers:
    """What a job that tells speakers apart asks, and knows of its speakers so far: the known
    speakers' voice prints (from their clips), then those of the speakers its windows found, so
    that the same person keeps one name across the whole recording."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    known: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Speakers:
        values = json.loads(text)
        values["known"] = tuple((name, tuple(voice)) for name, voice in values["known"])
        return cls(**values)


@dataclass(frozen=True)
class Job:
    id: str
    owner: str | None
    state: str
    model: str
    options: TranscriptionOptions
    response_format: str
    filename: str | None
    audio_bytes: int
    audio_seconds_total: float | None
    audio_seconds_done: float
    next_sample: int
    chunks_done: int
    language: str | None
    language_probability: float | None
    error_code: str | None
    error_message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    lease_owner: str | None
    lease_expires: float | None
    attempts: int
    speakers: Speakers | None = None
    """None: the job does not tell speakers apart."""

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Job:
        values = dict(row._mapping)
        values["options"] = TranscriptionOptions(**json.loads(values["options"]))
        values["speakers"] = Speakers.from_json(values["speakers"]) if values["speakers"] else None
        return cls(**values)


@dataclass(frozen=True)
class Window:
    """One finished window of a job: where it lay in the audio, and what was said in it."""

    index: int
    start_s: float
    end_s: float
    segments: list[Segment]


class LeaseLost(Exception):
    """The job is no longer this worker's: cancelled, deleted, or taken over after the lease ran out."""


def database_url(configured: str | None, cache_dir: Path) -> str:
    """The URL SQLAlchemy opens: PostgreSQL through psycopg, or the default SQLite file."""
    if not configured:
        return f"sqlite:///{cache_dir / 'jobs.sqlite3'}"
    for scheme in ("postgresql://", "postgres://"):
        if configured.startswith(scheme):
            return "postgresql+psycopg://" + configured[len(scheme) :]
    return configured


def redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


class JobStore:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = sa.engine.make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url, pool_pre_ping=True, future=True)
        if self.sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        self._add_columns()

    def _add_columns(self) -> None:
        """Columns added since a database was made: added to it (replicas starting together may race
        to add one; the loser finds it there)."""
        present = {column["name"] for column in sa.inspect(self.engine).get_columns("audio_jobs")}
        if "speakers" not in present:
            with contextlib.suppress(sa.exc.DBAPIError), self.engine.begin() as db:
                db.execute(sa.text("ALTER TABLE audio_jobs ADD COLUMN speakers TEXT"))

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ submission and reading

    def create(
        self,
        owner: str | None,
        model: str,
        options: TranscriptionOptions,
        response_format: str,
        filename: str | None,
        source: BinaryIO,
        audio_seconds_total: float | None,
        speakers: Speakers | None = None,
    ) -> Job:
        """Store a new job with its audio, read from `source` part by part, in one transaction."""
        job_id = "job_" + secrets.token_hex(12)
        now = time.time()
        with self.engine.begin() as db:
            size = 0
            seq = 0
            while part := source.read(PART_BYTES):
                db.execute(sa.insert(audio_parts).values(job_id=job_id, seq=seq, data=part))
                size += len(part)
                seq += 1
            db.execute(
                sa.insert(jobs).values(
                    id=job_id,
                    owner=owner,
                    state="queued",
                    model=model,
                    options=json.dumps(asdict(options)),
                    response_format=response_format,
                    filename=filename,
                    audio_bytes=size,
                    audio_seconds_total=audio_seconds_total,
                    audio_seconds_done=0.0,
                    next_sample=0,
                    chunks_done=0,
                    created_at=now,
                    attempts=0,
                    speakers=speakers.to_json() if speakers else None,
                )
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, if it exists and (with `owner` given) belongs to that owner."""
        query = sa.select(jobs).where(jobs.c.id == job_id)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return None if row is None else Job.from_row(row)

    def page(self, owner: str | None, limit: int, after: str | None = None) -> tuple[list[Job], bool]:
        """Jobs newest first, `limit` at a time, after the job `after` (the last of the previous page);
        and whether more follow."""
        query = sa.select(jobs)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as db:
            if after is not None:
                mark = db.execute(sa.select(jobs.c.created_at).where(jobs.c.id == after)).scalar()
                if mark is None:
                    return [], False
                query = query.where(
                    sa.or_(jobs.c.created_at < mark, sa.and_(jobs.c.created_at == mark, jobs.c.id < after))
                )
            rows = db.execute(query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit + 1)).all()
        return [Job.from_row(r) for r in rows[:limit]], len(rows) > limit

    def windows(self, job_id: str) -> list[Window]:
        with self.engine.connect() as db:
            rows = db.execute(sa.select(chunks).where(chunks.c.job_id == job_id).order_by(chunks.c.idx)).all()
        return [Window(r.idx, r.start_s, r.end_s, segments_from_json(r.segments)) for r in rows]

    def audio(self, job_id: str, size: int) -> PartReader:
        return PartReader(self, job_id, size)

    def read_part(self, job_id: str, seq: int) -> bytes:
        with self.engine.connect() as db:
            data = db.execute(
                sa.select(audio_parts.c.data).where(audio_parts.c.job_id == job_id, audio_parts.c.seq == seq)
            ).scalar()
        return bytes(data) if data is not None else b""

    def delete(self, job_id: str, owner: str | None = None) -> Job | None:
        """Delete the job with its audio and windows; returns it as it was (None: no such job)."""
        with self.engine.begin() as db:
            query = sa.select(jobs).where(jobs.c.id == job_id)
            if owner is not None:
                query = query.where(jobs.c.owner == owner)
            row = db.execute(query).first()
            if row is None:
                return None
            _delete(db, [job_id])
        return Job.from_row(row)

    def expire(self, finished_before: float) -> int:
        """Delete finished jobs older than the retention; returns how many went."""
        with self.engine.begin() as db:
            ids = list(
                db.execute(
                    sa.select(jobs.c.id).where(jobs.c.state.in_(FINISHED), jobs.c.finished_at < finished_before)
                ).scalars()
            )
            if ids:
                _delete(db, ids)
        return len(ids)

    # ------------------------------------------------------------ workers

    def claim(self, worker: str, lease_s: float, max_attempts: int) -> Job | None:
        """Take the oldest job that is queued, or running under a lease that ran out (its worker died).

        PostgreSQL locks the row it picks and skips rows other replicas hold (SKIP LOCKED); the update
        checks the same condition again, so on SQLite too only one worker gets any job.
        """
        now = time.time()
        claimable = sa.or_(jobs.c.state == "queued", sa.and_(jobs.c.state == "running", jobs.c.lease_expires < now))
        with self.engine.begin() as db:
            pick = sa.select(jobs.c.id, jobs.c.attempts).where(claimable).order_by(jobs.c.created_at).limit(1)
            if not self.sqlite:
                pick = pick.with_for_update(skip_locked=True)
            found = db.execute(pick).first()
            if found is None:
                return None
            if found.attempts >= max_attempts:
                db.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == found.id, claimable)
                    .values(
                        state="failed",
                        finished_at=now,
                        lease_owner=None,
                        error_code="job_abandoned",
                        error_message=f"The job was started {found.attempts} times and its worker stopped "
                        "each time before it finished (out of memory?)",
                    )
                )
                return None
            taken = db.execute(
                sa.update(jobs)
                .where(jobs.c.id == found.id, claimable)
                .values(
                    state="running",
                    lease_owner=worker,
                    lease_expires=now + lease_s,
                    attempts=jobs.c.attempts + 1,
                    started_at=sa.func.coalesce(jobs.c.started_at, now),
                )
            )
            if taken.rowcount != 1:
                return None
            row = db.execute(sa.select(jobs).where(jobs.c.id == found.id)).first()
        return None if row is None else Job.from_row(row)

    def renew(self, job_id: str, worker: str, lease_s: float) -> None:
        """Extend this worker's lease; LeaseLost when the job is no longer its own."""
        with self.engine.begin() as db:
            self._fenced(db, job_id, worker, lease_expires=time.time() + lease_s)

    def save_window(
        self,
        job_id: str,
        worker: str,
        lease_s: float,
        window: Window,
        next_sample: int,
        done_s: float,
        language: str,
        language_probability: float,
        speakers: Speakers | None = None,
    ) -> None:
        """Store a finished window and the progress after it, in one transaction, if the job is still
        this worker's: a worker that lost its lease writes nothing."""
        more = {"speakers": speakers.to_json()} if speakers else {}
        with self.engine.begin() as db:
            self._fenced(
                db,
                job_id,
                worker,
                **more,
                lease_expires=time.time() + lease_s,
                next_sample=next_sample,
                audio_seconds_done=done_s,
                chunks_done=window.index + 1,
                language=language,
                language_probability=language_probability,
            )
            db.execute(
                sa.insert(chunks).values(
                    job_id=job_id,
                    idx=window.index,
                    start_s=window.start_s,
                    end_s=window.end_s,
                    segments=segments_to_json(window.segments),
                )
            )

    def finish(
        self, job_id: str, worker: str, state: str, error: tuple[str, str] | None = None, total_s: float | None = None
    ) -> None:
        values: dict[str, Any] = {
            "state": state,
            "finished_at": time.time(),
            "lease_owner": None,
            "lease_expires": None,
        }
        if error is not None:
            values["error_code"], values["error_message"] = error
        if total_s is not None:
            values["audio_seconds_total"] = total_s
            values["audio_seconds_done"] = total_s
        with self.engine.begin() as db:
            self._fenced(db, job_id, worker, **values)

    def release(self, job_id: str, worker: str) -> None:
        """Give a running job back (this replica is stopping): the next claim resumes it at once."""
        with self.engine.begin() as db:
            db.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.lease_owner == worker, jobs.c.state == "running")
                # A stop on purpose is not one of the job's attempts.
                .values(lease_expires=0.0, attempts=sa.case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0))
            )

    def _fenced(self, db: Connection, job_id: str, worker: str, **values: Any) -> None:
        done = db.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.lease_owner == worker, jobs.c.state == "running")
            .values(**values)
        )
        if done.rowcount != 1:
            raise LeaseLost(job_id)


def _delete(db: Connection, ids: Sequence[str]) -> None:
    for table in (audio_parts, chunks):
        db.execute(sa.delete(table).where(table.c.job_id.in_(ids)))
    db.execute(sa.delete(jobs).where(jobs.c.id.in_(ids)))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; a busy writer is waited for instead of failing.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PartReader(io.RawIOBase):
    """A job's stored audio as a seekable file, read a part at a time (PyAV decodes from it)."""

    def __init__(self, store: JobStore, job_id: str, size: int) -> None:
        self._store = store
        self._job_id = job_id
        self._size = size
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self._size or not len(view):
            return 0
        seq, offset = divmod(self._position, PART_BYTES)
        if self._cached is None or self._cached[0] != seq:
            self._cached = (seq, self._store.read_part(self._job_id, seq))
        part = self._cached[1]
        count = min(len(view), len(part) - offset)
        if count <= 0:
            return 0
        view[:count] = part[offset : offset + count]
        self._position += count
        return count


def segments_to_json(segments: Sequence[Segment]) -> str:
    return json.dumps([asdict(s) for s in segments], separators=(",", ":"))


def segments_from_json(text: str) -> list[Segment]:
    found = []
    for item in json.loads(text):
        item["tokens"] = tuple(item["tokens"])
        item["words"] = tuple(Word(**w) for w in item["words"])
        found.append(Segment(**item))
    return found
