"""The database helpers on SQLite, where the demo and a single-box install run."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from sharedcenter.db import savepoint
from sharedcenter.db._engine import Database


def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'sc.db'}")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (name TEXT PRIMARY KEY)")
    return db


def test_savepoint_that_reads_then_writes_survives_another_writer(tmp_path: Path) -> None:
    """A request reads (the order lookup) in its savepoint, another connection writes, then the request writes.

    With a deferred BEGIN the request's read snapshot could not be upgraded once the other write committed and
    the insert failed at once with "database is locked"; the savepoint holds the write lock instead, so the
    other writer waits its turn and both succeed.
    """
    db = _database(tmp_path)
    other_done = threading.Event()
    other_error: list[BaseException] = []

    def other_writer() -> None:
        try:
            with db.session() as other:
                other.execute(text("INSERT INTO t VALUES ('worker')"))
        except BaseException as exc:
            other_error.append(exc)
        finally:
            other_done.set()

    with db.session() as session, savepoint(session):
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        thread = threading.Thread(target=other_writer)
        thread.start()
        other_done.wait(0.5)  # the other writer gets its chance to commit first (it must not)
        session.execute(text("INSERT INTO t VALUES ('request')"))
    thread.join(15)
    assert not other_error, other_error
    with db.session() as session:
        assert sorted(session.execute(text("SELECT name FROM t")).scalars()) == ["request", "worker"]
    db.dispose()


def test_savepoint_rolls_back_with_the_request(tmp_path: Path) -> None:
    db = _database(tmp_path)
    try:
        with db.session() as session:
            with savepoint(session):
                session.execute(text("INSERT INTO t VALUES ('order')"))
            raise RuntimeError("the request failed after its savepoint")
    except RuntimeError:
        pass
    with db.session() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    db.dispose()
