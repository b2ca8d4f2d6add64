"""partition votes: on PostgreSQL, the vote rows are list-partitioned by paredão

One partition per paredão (`votes_p<id>`, made with the paredão) and a DEFAULT partition, so
a finished round is archived (DETACH PARTITION) or dropped whole, and a paredão's recount
reads only its own rows. SQLite has no partitions: there this revision does nothing.

Revision ID: 0003_partition_votes
Revises: 0002_votes
Create Date: 2026-11-21 20:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime

revision: str = "0003_partition_votes"
down_revision: str | None = "0002_votes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODE = sa.Enum(
    "unico", "torcida", name="votemode", native_enum=False, create_constraint=False, length=16
)
COLUMNS = "paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash, accepted_at"


def _create_votes(name: str, *, partitioned: bool) -> None:
    """The votes table of 0002_votes under `name`, with its constraints' names for `name`."""
    options: dict[str, Any] = {}
    if partitioned:
        options["postgresql_partition_by"] = "LIST (paredao_id)"
    op.create_table(
        name,
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
        sa.PrimaryKeyConstraint("paredao_id", "vote_id", name=f"pk_{name}"),
        **options,
    )
    op.create_index(
        f"uq_{name}_paredao_id_cpf_hash",
        name,
        ["paredao_id", "cpf_hash"],
        unique=True,
        postgresql_where=sa.text("cpf_hash IS NOT NULL"),
    )


def _set_aside_votes(new_name: str) -> None:
    """Rename `votes` and the names of its index and primary key, which are schema-wide."""
    op.execute(f"ALTER TABLE votes RENAME CONSTRAINT pk_votes TO pk_{new_name}")
    op.execute(
        f"ALTER INDEX uq_votes_paredao_id_cpf_hash RENAME TO uq_{new_name}_paredao_id_cpf_hash"
    )
    op.rename_table("votes", new_name)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_votes("votes_unpartitioned")
    _create_votes("votes", partitioned=True)
    op.execute("CREATE TABLE votes_default PARTITION OF votes DEFAULT")
    for (paredao_id,) in op.get_bind().execute(sa.text("SELECT id FROM paredoes ORDER BY id")):
        op.execute(
            f"CREATE TABLE votes_p{int(paredao_id)} PARTITION OF votes "
            f"FOR VALUES IN ({int(paredao_id)})"
        )
    op.execute(f"INSERT INTO votes ({COLUMNS}) SELECT {COLUMNS} FROM votes_unpartitioned")  # noqa: S608
    op.drop_table("votes_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_votes("votes_partitioned")
    _create_votes("votes", partitioned=False)
    op.execute(f"INSERT INTO votes ({COLUMNS}) SELECT {COLUMNS} FROM votes_partitioned")  # noqa: S608
    op.drop_table("votes_partitioned")  # and every partition with it
