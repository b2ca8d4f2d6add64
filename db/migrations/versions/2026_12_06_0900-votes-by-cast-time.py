"""votes for the consumer: an index by cast time, and no foreign key per row

The Kafka consumer keeps each voter's voto-da-torcida window in memory and rebuilds it from
the votes stored in the last minute whenever a partition is assigned to it or a batch fails:
an index on (paredao_id, accepted_at) makes that read touch one minute of votes, not the
whole paredão (the times are those the votes were cast at, so it grows at its end).

The foreign key from a vote to its paredão's nominee goes: PostgreSQL checked it with one
lookup per inserted row, which doubled the cost of storing a batch (measured: 26–36 against
11–18 µs a row, alternating in one run). The storing transaction now checks it for the whole
batch (`db.votes.decide_batch` refuses a ballot whose nominee is not one of its paredão's),
on both paths; nominees are never removed from a paredão.

On PostgreSQL the index is made on every partition of `votes`; SQLite cannot drop a
constraint, so its `votes` is rebuilt without it.

Revision ID: 0009_votes_by_cast_time
Revises: 0008_one_unico_per_account
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime

revision: str = "0009_votes_by_cast_time"
down_revision: str | None = "0008_one_unico_per_account"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_votes_nominee_paredao_nominees"
MODE = sa.Enum(
    "unico", "torcida", name="votemode", native_enum=False, create_constraint=False, length=16
)
COLUMNS = "paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash, accepted_at"
UNICO_OF_AN_ACCOUNT = "mode = 'unico' AND voter_id LIKE 'sub:%'"


def _rebuild_sqlite_votes(*, with_foreign_key: bool) -> None:
    """SQLite's `votes` again, with or without the foreign key, its rows and indexes kept."""
    op.rename_table("votes", "votes_before")
    for index in ("uq_votes_paredao_id_cpf_hash", "uq_votes_paredao_id_voter_id_unico"):
        op.drop_index(index, table_name="votes_before")
    constraints: list[sa.Constraint] = [
        sa.PrimaryKeyConstraint("paredao_id", "vote_id", name="pk_votes")
    ]
    if with_foreign_key:
        constraints.append(
            sa.ForeignKeyConstraint(
                ["paredao_id", "nominee_id"],
                ["paredao_nominees.paredao_id", "paredao_nominees.candidate_id"],
                name=FOREIGN_KEY,
            )
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
        *constraints,
    )
    op.execute(f"INSERT INTO votes ({COLUMNS}) SELECT {COLUMNS} FROM votes_before")  # noqa: S608
    op.drop_table("votes_before")
    op.create_index(
        "uq_votes_paredao_id_cpf_hash",
        "votes",
        ["paredao_id", "cpf_hash"],
        unique=True,
        sqlite_where=sa.text("cpf_hash IS NOT NULL"),
    )
    op.create_index(
        "uq_votes_paredao_id_voter_id_unico",
        "votes",
        ["paredao_id", "voter_id"],
        unique=True,
        sqlite_where=sa.text(UNICO_OF_AN_ACCOUNT),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_votes(with_foreign_key=False)
    else:
        op.drop_constraint(FOREIGN_KEY, "votes", type_="foreignkey")
    op.create_index("ix_votes_paredao_id_accepted_at", "votes", ["paredao_id", "accepted_at"])


def downgrade() -> None:
    op.drop_index("ix_votes_paredao_id_accepted_at", table_name="votes")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_votes(with_foreign_key=True)
    else:
        op.create_foreign_key(
            FOREIGN_KEY,
            "votes",
            "paredao_nominees",
            ["paredao_id", "nominee_id"],
            ["paredao_id", "candidate_id"],
        )
