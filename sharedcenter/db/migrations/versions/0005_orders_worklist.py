"""orders as a worklist: status, modality, schedule, station, patient demographics, expected instances;
accession numbers unique within a site rather than across the region

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:30:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _orders_0004(unique_accession: bool) -> sa.Table:
    """The orders table as 0001 made it, for SQLite's table copy (its unique constraint has no name)."""
    columns: list[Any] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("accession_number", sa.String(length=64), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=False),
        sa.Column("site_code", sa.String(length=64), nullable=False),
        sa.Column("exam", sa.String(length=16), nullable=False),
        sa.Column("clinical_question", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_code"], ["sites.code"]),
        sa.PrimaryKeyConstraint("id"),
    ]
    if unique_accession:
        columns.append(sa.UniqueConstraint("accession_number"))
    return sa.Table("orders", sa.MetaData(), *columns)


_NEW_COLUMNS = (
    ("status", sa.String(length=16), False, "scheduled"),
    ("modality", sa.String(length=16), False, ""),
    ("scheduled_at", sa.DateTime(timezone=True), True, None),
    ("station_ae_title", sa.String(length=16), True, None),
    ("patient_birth_date", sa.Date(), True, None),
    ("patient_sex", sa.String(length=1), False, ""),
    ("procedure_description", sa.String(length=200), False, ""),
    ("expected_instances", sa.Integer(), True, None),
    ("created_by", sa.String(length=100), False, "system"),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint("orders_accession_number_key", "orders", type_="unique")
    copy_from = _orders_0004(unique_accession=False) if sqlite else None
    with op.batch_alter_table("orders", schema=None, recreate="always" if sqlite else "auto",
                              copy_from=copy_from) as batch_op:
        for name, type_, nullable, default in _NEW_COLUMNS:
            server_default = sa.text(f"'{default}'") if default is not None else None
            batch_op.add_column(sa.Column(name, type_, nullable=nullable, server_default=server_default))
        batch_op.create_unique_constraint("uq_orders_site_accession", ["site_code", "accession_number"])
        batch_op.create_index("ix_orders_worklist", ["site_code", "status", "scheduled_at"], unique=False)
        batch_op.create_index("ix_orders_patient", ["site_code", "patient_id", "exam"], unique=False)
    # orders made before this revision were made for a study that had arrived: they are done
    op.execute("UPDATE orders SET status = 'completed' WHERE id IN (SELECT order_id FROM studies)")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name, type_, nullable, default in _NEW_COLUMNS:
            if default is not None:
                batch_op.alter_column(name, existing_type=type_, existing_nullable=nullable, server_default=None)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # 0004 wants accession numbers unique across the region: where two sites now share one, the oldest
    # order keeps it and the others lose it (as 0004's ingest did for a number another site held)
    op.execute("UPDATE orders SET accession_number = NULL WHERE accession_number IS NOT NULL AND id > "
               "(SELECT MIN(o.id) FROM orders o WHERE o.accession_number = orders.accession_number)")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_patient")
        batch_op.drop_index("ix_orders_worklist")
        batch_op.drop_constraint("uq_orders_site_accession", type_="unique")
        for name, *_ in reversed(_NEW_COLUMNS):
            batch_op.drop_column(name)
    if sqlite:
        with op.batch_alter_table("orders", recreate="always", copy_from=_orders_0004(unique_accession=True)):
            pass
    else:
        op.create_unique_constraint("orders_accession_number_key", "orders", ["accession_number"])
