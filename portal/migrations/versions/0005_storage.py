"""auth: sign-in records pruned by age; sessions stored before their tokens were sealed end

Revision ID: 0005_storage
Revises: 0004_app_processes
Create Date: 2026-11-30 06:30:00

The purge (portal.auth.purge) deletes portal_logins rows by created_at: index it.
Sessions written before tokens were sealed at rest hold them in clear text: they are
deleted, so everyone signs in once more (the table belongs to Flask-Session, and may not
exist yet on a new database).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_storage"
down_revision = "0004_app_processes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_portal_logins_created_at", "portal_logins", ["created_at"])
    if sa.inspect(op.get_bind()).has_table("sessions"):
        op.execute("DELETE FROM sessions")


def downgrade():
    op.drop_index("ix_portal_logins_created_at", table_name="portal_logins")
