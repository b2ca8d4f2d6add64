"""one voto único per account: in jwt mode an account votes único once per paredão

A voto único was bound to its CPF only, so one account could vote único once per valid CPF it
sent. A partial unique index now binds the votos únicos cast under a jwt subject's voter_id
("sub:…") as well. On PostgreSQL the index on the partitioned `votes` is made on every
partition. It cannot be made while an account already holds two votos únicos in a paredão.

Revision ID: 0008_one_unico_per_account
Revises: 0007_cpf_key_ids
Create Date: 2026-11-25 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_one_unico_per_account"
down_revision: str | None = "0007_cpf_key_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNICO_OF_AN_ACCOUNT = "mode = 'unico' AND voter_id LIKE 'sub:%'"


def upgrade() -> None:
    op.create_index(
        "uq_votes_paredao_id_voter_id_unico",
        "votes",
        ["paredao_id", "voter_id"],
        unique=True,
        sqlite_where=sa.text(UNICO_OF_AN_ACCOUNT),
        postgresql_where=sa.text(UNICO_OF_AN_ACCOUNT),
    )


def downgrade() -> None:
    op.drop_index("uq_votes_paredao_id_voter_id_unico", table_name="votes")
