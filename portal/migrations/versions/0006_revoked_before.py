"""auth: a not-before time per user, for revoking earlier tokens

Revision ID: 0006_revoked_before
Revises: 0005_storage
Create Date: 2026-11-30 06:30:00

Signing a user out (or Keycloak reporting them disabled) records a time; bearer tokens
and sign-ins authenticated before it are refused.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_revoked_before"
down_revision = "0005_storage"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "revoked_before",
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("not_before", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sub"),
    )


def downgrade():
    op.drop_table("revoked_before")
