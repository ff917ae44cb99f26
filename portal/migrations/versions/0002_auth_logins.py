"""auth: portal logins by Keycloak session, seen logout-token ids

Revision ID: 0002_auth_logins
Revises: 0001_initial
Create Date: 2026-11-23 10:00:00

Back-channel logout names a Keycloak session (sid) or a user (sub); portal_logins maps
them to portal session ids. seen_logout_tokens refuses a replayed logout token.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_auth_logins"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "portal_logins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=False),
        sa.Column("keycloak_sid", sa.String(length=255), nullable=True),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_portal_logins_session_id", "portal_logins", ["session_id"], unique=True)
    op.create_index("ix_portal_logins_keycloak_sid", "portal_logins", ["keycloak_sid"])
    op.create_index("ix_portal_logins_sub", "portal_logins", ["sub"])
    op.create_table(
        "seen_logout_tokens",
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_seen_logout_tokens_expires_at", "seen_logout_tokens", ["expires_at"])


def downgrade():
    op.drop_table("seen_logout_tokens")
    op.drop_table("portal_logins")
