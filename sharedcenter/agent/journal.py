"""The agent's journal: one SQLite row per received instance, in WAL mode with ``synchronous=FULL``.

The SOP Instance UID is the key, so an instance the modality sends twice is journalled (and
forwarded) once.  States: ``queued`` (file in ``queue/``, not yet acknowledged by the county),
``sent`` (acknowledged; the file is gone), ``failed`` (the county refused it with a 4xx; the file
and its reason are in ``failed/``).  Rows are never deleted: they are the agent's memory of what
it already has.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Journal", "JournalCounts", "QueuedInstance"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    received_at REAL NOT NULL,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS instances_state ON instances (state, received_at);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_uid);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL NOT NULL);
"""


@dataclasses.dataclass(frozen=True, slots=True)
class QueuedInstance:
    """One instance waiting in ``queue/`` (``file`` is relative to the spool)."""

    sop_uid: str
    study_uid: str
    file: str
    size: int
    received_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class JournalCounts:
    """What ``sharedcenter agent status`` shows."""

    queued: int
    sent: int
    failed: int
    oldest_queued_at: float | None
    last_error: str | None
    last_error_at: float | None
    last_sent_at: float | None


class Journal:
    """The SQLite journal of one spool; safe to share between the agent's threads."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def has(self, sop_uid: str) -> bool:
        return bool(self._query("SELECT 1 FROM instances WHERE sop_uid = ?", (sop_uid,)))

    def known_files(self) -> set[str]:
        return {row[0] for row in self._query("SELECT file FROM instances WHERE state = 'queued'")}

    def add(self, sop_uid: str, study_uid: str, series_uid: str, file: str, size: int, source: str) -> bool:
        """Journal a received instance as queued; False when its SOP UID is already known."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO instances (sop_uid, study_uid, series_uid, file, size, source, state,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                (sop_uid, study_uid, series_uid, file, size, source, time.time()))
            return cursor.rowcount == 1

    def queued(self, limit: int = 10_000) -> list[QueuedInstance]:
        """Queued instances, oldest first."""
        rows = self._query("SELECT sop_uid, study_uid, file, size, received_at FROM instances"
                           " WHERE state = 'queued' ORDER BY received_at, sop_uid LIMIT ?", (limit,))
        return [QueuedInstance(*row) for row in rows]

    def last_received(self, study_uid: str) -> float:
        """When the study's latest instance reached the agent (queued, sent or failed)."""
        rows = self._query("SELECT MAX(received_at) FROM instances WHERE study_uid = ?", (study_uid,))
        return float(rows[0][0] or 0.0)

    def mark_sent(self, sop_uids: list[str]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE instances SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                           " error = NULL WHERE sop_uid = ? AND state = 'queued'",
                           [(time.time(), uid) for uid in sop_uids])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_sent', '', ?)", (time.time(),))

    def mark_failed(self, sop_uid: str, file: str, reason: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE instances SET state = 'failed', file = ?, attempts = attempts + 1, error = ?"
                       " WHERE sop_uid = ?", (file, reason, sop_uid))

    def note_error(self, message: str) -> None:
        """Remember the latest forwarding error (shown by ``status``)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_error', ?, ?)", (message, time.time()))

    def counts(self) -> JournalCounts:
        by_state = dict(self._query("SELECT state, COUNT(*) FROM instances GROUP BY state"))
        oldest = self._query("SELECT MIN(received_at) FROM instances WHERE state = 'queued'")[0][0]
        meta = {key: (value, at) for key, value, at in self._query("SELECT key, value, at FROM meta")}
        error = meta.get("last_error")
        sent = meta.get("last_sent")
        return JournalCounts(
            queued=by_state.get("queued", 0), sent=by_state.get("sent", 0), failed=by_state.get("failed", 0),
            oldest_queued_at=oldest, last_error=error[0] if error else None,
            last_error_at=error[1] if error else None, last_sent_at=sent[1] if sent else None,
        )

    def states(self) -> dict[str, str]:
        """SOP UID -> state, for checks."""
        return dict(self._query("SELECT sop_uid, state FROM instances"))
