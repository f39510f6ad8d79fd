"""reading station: study reading leases, return reasons, consultations with the city center

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("returned_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_studies_claimed_by_id", "users", ["claimed_by_id"], ["id"])
    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("center_code", sa.String(length=64), nullable=False),
        sa.Column("asked_by_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.ForeignKeyConstraint(["center_code"], ["centers.code"]),
        sa.ForeignKeyConstraint(["asked_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["answered_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.create_index("ix_consultations_center_open", ["center_code", "answered_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_consultations_study_id"), ["study_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultations_study_id"))
        batch_op.drop_index("ix_consultations_center_open")
    op.drop_table("consultations")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_constraint("fk_studies_claimed_by_id", type_="foreignkey")
        batch_op.drop_column("returned_reason")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by_id")
