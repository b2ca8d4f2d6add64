"""tally shards: a vote count is split into shards that concurrent writers update apart

On PostgreSQL every batch of every writer used to update the same few tally rows and held
them until its commit, so concurrent batches queued on them. Each batch now adds to one of
16 shards (picked at random); results sum the shards. Existing counts become shard 0.

Revision ID: 0005_tally_shards
Revises: 0004_kafka_ingestion
Create Date: 2026-11-23 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_tally_shards"
down_revision: str | None = "0004_kafka_ingestion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITHOUT_SHARD = ["paredao_id", "nominee_id", "mode", "hour"]


def upgrade() -> None:
    with op.batch_alter_table("vote_tally") as batch:
        batch.add_column(
            sa.Column("shard", sa.SmallInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch.drop_constraint("pk_vote_tally", type_="primary")
        batch.create_primary_key("pk_vote_tally", [*WITHOUT_SHARD, "shard"])
        batch.alter_column("shard", server_default=None)


def downgrade() -> None:
    # Fold the shards back into one row per count before the column goes.
    op.execute(
        "UPDATE vote_tally SET votes = (SELECT sum(t.votes) FROM vote_tally t"
        " WHERE t.paredao_id = vote_tally.paredao_id AND t.nominee_id = vote_tally.nominee_id"
        " AND t.mode = vote_tally.mode AND t.hour = vote_tally.hour) WHERE shard = 0"
    )
    op.execute(
        "INSERT INTO vote_tally (paredao_id, nominee_id, mode, hour, shard, votes)"
        " SELECT paredao_id, nominee_id, mode, hour, 0, sum(votes) FROM vote_tally t"
        " GROUP BY paredao_id, nominee_id, mode, hour"
        " HAVING NOT EXISTS (SELECT 1 FROM vote_tally z WHERE z.paredao_id = t.paredao_id"
        " AND z.nominee_id = t.nominee_id AND z.mode = t.mode AND z.hour = t.hour"
        " AND z.shard = 0)"
    )
    op.execute("DELETE FROM vote_tally WHERE shard <> 0")
    with op.batch_alter_table("vote_tally") as batch:
        batch.drop_constraint("pk_vote_tally", type_="primary")
        batch.create_primary_key("pk_vote_tally", WITHOUT_SHARD)
        batch.drop_column("shard")
