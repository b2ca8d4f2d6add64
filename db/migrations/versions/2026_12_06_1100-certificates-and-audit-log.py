"""certificates and audit log: a signed Merkle certificate per frozen paredão, and the
hash-chained log of admin actions

`certificates` holds, per frozen paredão, the signed payload (totals, outcome and the RFC 9162
root over its counted votes) and the root and first vote_id of each chunk of 256 leaves, from
which an inclusion proof is answered without rebuilding the tree. `audit_log` holds one row per
admin action, chained by hash. Paredões frozen before this revision have no certificate.

Revision ID: 0011_certificates_audit_log
Revises: 0010_unico_votes_by_device
Create Date: 2026-12-06 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from model.base import UTCDateTime

revision: str = "0011_certificates_audit_log"
down_revision: str | None = "0010_unico_votes_by_device"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("paredao_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_roots", sa.LargeBinary(), nullable=False),
        sa.Column("chunk_firsts", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paredao_id"],
            ["paredoes.id"],
            name=op.f("fk_certificates_paredao_id_paredoes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paredao_id", name=op.f("pk_certificates")),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("certificates")
