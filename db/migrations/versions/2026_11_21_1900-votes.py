"""votes: the vote rows, their tally, torcida budgets, spent captchas, frozen outcomes

Revision ID: 0002_votes
Revises: 0001_foundation
Create Date: 2026-11-21 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime

revision: str = "0002_votes"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODE = sa.Enum(
    "unico", "torcida", name="votemode", native_enum=False, create_constraint=False, length=16
)
OUTCOME = sa.Enum(
    "pending", "eliminated", "winner", "tie",
    name="outcomekind", native_enum=False, create_constraint=False, length=16,
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("paredoes") as batch:
        batch.add_column(sa.Column("outcome", OUTCOME, nullable=True))
        batch.add_column(sa.Column("outcome_candidate_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_paredoes_outcome_candidate_id_candidates"),
            "candidates",
            ["outcome_candidate_id"],
            ["id"],
        )

    op.create_table(
        "votes",
        sa.Column("paredao_id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("nominee_id", sa.Integer(), nullable=False),
        sa.Column("mode", MODE, nullable=False),
        sa.Column("voter_id", sa.String(length=64), nullable=False),
        sa.Column("cpf_hash", sa.String(length=64), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paredao_id", "nominee_id"],
            ["paredao_nominees.paredao_id", "paredao_nominees.candidate_id"],
            name="fk_votes_nominee_paredao_nominees",
        ),
        sa.PrimaryKeyConstraint("paredao_id", "vote_id", name=op.f("pk_votes")),
    )
    op.create_index(
        "uq_votes_paredao_id_cpf_hash",
        "votes",
        ["paredao_id", "cpf_hash"],
        unique=True,
        sqlite_where=sa.text("cpf_hash IS NOT NULL"),
        postgresql_where=sa.text("cpf_hash IS NOT NULL"),
    )

    op.create_table(
        "vote_tally",
        sa.Column("paredao_id", sa.Integer(), nullable=False),
        sa.Column("nominee_id", sa.Integer(), nullable=False),
        sa.Column("mode", MODE, nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "paredao_id", "nominee_id", "mode", "hour", name=op.f("pk_vote_tally")
        ),
    )
    op.create_table(
        "torcida_budgets",
        sa.Column("paredao_id", sa.Integer(), nullable=False),
        sa.Column("voter_id", sa.String(length=64), nullable=False),
        sa.Column("recent", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("paredao_id", "voter_id", name=op.f("pk_torcida_budgets")),
    )
    op.create_table(
        "spent_captchas",
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("pk_spent_captchas")),
    )


def downgrade() -> None:
    op.drop_table("spent_captchas")
    op.drop_table("torcida_budgets")
    op.drop_table("vote_tally")
    op.drop_index("uq_votes_paredao_id_cpf_hash", table_name="votes")
    op.drop_table("votes")
    with op.batch_alter_table("paredoes") as batch:
        batch.drop_constraint(
            op.f("fk_paredoes_outcome_candidate_id_candidates"), type_="foreignkey"
        )
        batch.drop_column("outcome_candidate_id")
        batch.drop_column("outcome")
