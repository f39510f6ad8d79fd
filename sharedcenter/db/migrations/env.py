"""Alembic environment: runs on the engine handed over by :class:`sharedcenter.db.Database`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sharedcenter.db.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
