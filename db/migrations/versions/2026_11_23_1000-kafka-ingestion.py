"""kafka ingestion: the consumer's offsets, refused votes with their reasons, close markers

The Kafka consumer stores each partition's next offset in the same transaction as the votes
read before it (exactly-once counting), keeps the votes it refuses with the reason for the
voter's status lookup, and records the close markers it reads, one per partition.

Revision ID: 0004_kafka_ingestion
Revises: 0003_partition_votes
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime

revision: str = "0004_kafka_ingestion"
down_revision: str | None = "0003_partition_votes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODE = sa.Enum(
    "unico", "torcida", name="votemode", native_enum=False, create_constraint=False, length=16
)


def upgrade() -> None:
    op.create_table(
        "closing_marks",
        sa.Column("paredao_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("paredao_id", "partition", name=op.f("pk_closing_marks")),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name=op.f("pk_consumer_offsets")),
    )
    op.create_table(
        "vote_refusals",
        sa.Column("paredao_id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("nominee_id", sa.Integer(), nullable=False),
        sa.Column("mode", MODE, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("cast_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("paredao_id", "vote_id", name=op.f("pk_vote_refusals")),
    )


def downgrade() -> None:
    op.drop_table("vote_refusals")
    op.drop_table("consumer_offsets")
    op.drop_table("closing_marks")
