"""votos únicos by device: a partial index on votes (paredao_id, voter_id) WHERE mode = 'unico'

In anonymous mode a device (voter_id) casts at most PAREDAO_UNICO_PER_DEVICE votos únicos per
paredão, whatever CPFs it sends: each batch holding a voto único counts its device's stored
ones, and this index makes that a look-up of a few rows. The jwt accounts' unique index
(0008) cannot serve: its predicate (voter_id LIKE 'sub:%') leaves the device ids out. On
PostgreSQL it is made on every partition of `votes`.

Revision ID: 0010_unico_votes_by_device
Revises: 0009_votes_by_cast_time
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_unico_votes_by_device"
down_revision: str | None = "0009_votes_by_cast_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNICO = "mode = 'unico'"


def upgrade() -> None:
    op.create_index(
        "ix_votes_paredao_id_voter_id_unico",
        "votes",
        ["paredao_id", "voter_id"],
        sqlite_where=sa.text(UNICO),
        postgresql_where=sa.text(UNICO),
    )


def downgrade() -> None:
    op.drop_index("ix_votes_paredao_id_voter_id_unico", table_name="votes")
