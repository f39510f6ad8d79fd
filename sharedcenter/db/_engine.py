"""Engine, sessions and migrations.  Nothing is created at import time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from sharedcenter.config import Settings

__all__ = ["Database", "MIGRATIONS_DIR", "savepoint"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Database:
    """One database: its engine, a session factory and its migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 10, "check_same_thread": False}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url, echo=settings.database_echo)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision``."""
        command.upgrade(self.alembic_config(), revision)

    def dispose(self) -> None:
        self.engine.dispose()


def savepoint(session: Session) -> SessionTransaction:
    """``session.begin_nested()`` that stays nested in the request's transaction on SQLite too.

    pysqlite opens its transaction lazily, at the first INSERT/UPDATE/DELETE; a SAVEPOINT issued before any
    write starts a transaction of SQLite's own, which the savepoint's RELEASE commits, so work meant to roll
    back with the request would stay.  Opening the transaction first keeps the savepoint nested.

    It is opened with ``BEGIN IMMEDIATE`` (the write lock at once, waiting up to the busy timeout), not a
    deferred ``BEGIN``: a deferred transaction that reads first (the order lookup) and writes after another
    connection committed cannot be upgraded in WAL mode and fails at once with "database is locked", whatever
    the busy timeout (seen in ``sharedcenter demo`` with the worker writing beside an upload).
    """
    conn = session.connection()
    if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    return session.begin_nested()
