"""cpf key ids: each paredão records the CPF key its votos únicos are hashed with

The CPF hash used to take its key from the one secret, so changing PAREDAO_SECRET_KEY during
a paredão changed every CPF's hash and let each CPF vote again. The server now holds a ring
of CPF keys, each named by a short key id, and a paredão is created with the id of the key in
force, which it hashes with for life.

The paredões that exist already keep NULL: they were hashed with the key of the secret in
force before key ids, which the server takes to be the oldest key of its ring (the last of
PAREDAO_PREVIOUS_SECRET_KEYS, or PAREDAO_SECRET_KEY when that is empty).

Revision ID: 0007_cpf_key_ids
Revises: 0006_revoked_sessions
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_cpf_key_ids"
down_revision: str | None = "0006_revoked_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("paredoes") as batch:
        batch.add_column(sa.Column("cpf_key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # The hashes stay as they are: the older server hashes with PAREDAO_SECRET_KEY's key alone,
    # so downgrade only while that secret is the one its open paredões were hashed with.
    with op.batch_alter_table("paredoes") as batch:
        batch.drop_column("cpf_key_id")
