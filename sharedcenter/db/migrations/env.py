"""Alembic environment: runs on the engine handed over by :class:`sharedcenter.db.Database`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sharedcenter.db.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # batch mode recreates a table by copy, drop and rename; rows of other tables that point at it
        # would fail the drop, so foreign keys are off meanwhile (SQLite ignores this pragma inside a
        # transaction: it runs first) and checked as a whole afterwards
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
        if broken:
            raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")
