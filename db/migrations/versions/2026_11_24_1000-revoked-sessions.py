"""revoked sessions: a production session that logged out is refused until it would expire

Logging out used to delete the cookie in the browser only: a copy of the cookie stayed valid
for its 8 hours. Each session now has an id, and logging out records it here.

Revision ID: 0006_revoked_sessions
Revises: 0005_tally_shards
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime

revision: str = "0006_revoked_sessions"
down_revision: str | None = "0005_tally_shards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_revoked_sessions")),
    )


def downgrade() -> None:
    op.drop_table("revoked_sessions")
