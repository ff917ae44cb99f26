"""hosting: how each app runs (workers, idle timeout, memory limit, stopped)

Revision ID: 0004_app_processes
Revises: 0003_deployments
Create Date: 2026-11-30 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_app_processes"
down_revision = "0003_deployments"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("workers", sa.Integer(), nullable=False, server_default="2"))
        batch.add_column(sa.Column("idle_timeout_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("memory_limit_mb", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("stopped", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("stopped")
        batch.drop_column("memory_limit_mb")
        batch.drop_column("idle_timeout_s")
        batch.drop_column("workers")
