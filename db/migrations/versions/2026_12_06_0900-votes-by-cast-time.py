"""votes by cast time: an index on (paredao_id, accepted_at)

The Kafka consumer keeps each voter's voto-da-torcida window in memory and rebuilds it from
the votes stored in the last minute whenever a partition is assigned to it or a batch fails:
this index makes that read touch one minute of votes, not the whole paredão. The times are
those the votes were cast at, so the index grows at its end. On PostgreSQL it is made on
every partition of `votes`.

Revision ID: 0009_votes_by_cast_time
Revises: 0008_one_unico_per_account
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_votes_by_cast_time"
down_revision: str | None = "0008_one_unico_per_account"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_votes_paredao_id_accepted_at", "votes", ["paredao_id", "accepted_at"])


def downgrade() -> None:
    op.drop_index("ix_votes_paredao_id_accepted_at", table_name="votes")
