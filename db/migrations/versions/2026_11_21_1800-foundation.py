"""foundation: candidates, paredões and their nominees

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-21 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime, enum_type
from model.candidate import CandidateStatus
from model.paredao import ParedaoKind, ParedaoStatus

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("bio", sa.String(length=2000), nullable=False),
        sa.Column("photo_url", sa.String(length=2048), nullable=True),
        sa.Column("status", enum_type(CandidateStatus), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("email", name=op.f("uq_candidates_email")),
    )
    op.create_index(op.f("ix_candidates_state"), "candidates", ["state"])
    op.create_index(op.f("ix_candidates_status"), "candidates", ["status"])

    op.create_table(
        "paredoes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", enum_type(ParedaoKind), nullable=False),
        sa.Column("status", enum_type(ParedaoStatus), nullable=False),
        sa.Column("opens_at", UTCDateTime(), nullable=True),
        sa.Column("closes_at", UTCDateTime(), nullable=True),
        sa.Column("unico_weight", sa.Float(), nullable=False),
        sa.Column("require_captcha", sa.Boolean(), nullable=False),
        sa.Column("show_partial_results", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paredoes")),
    )
    op.create_index(op.f("ix_paredoes_status"), "paredoes", ["status"])

    op.create_table(
        "paredao_nominees",
        sa.Column("paredao_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paredao_id"],
            ["paredoes.id"],
            name=op.f("fk_paredao_nominees_paredao_id_paredoes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_paredao_nominees_candidate_id_candidates"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("paredao_id", "candidate_id", name=op.f("pk_paredao_nominees")),
    )


def downgrade() -> None:
    op.drop_table("paredao_nominees")
    op.drop_index(op.f("ix_paredoes_status"), table_name="paredoes")
    op.drop_table("paredoes")
    op.drop_index(op.f("ix_candidates_status"), table_name="candidates")
    op.drop_index(op.f("ix_candidates_state"), table_name="candidates")
    op.drop_table("candidates")
