"""hosting: deployments of app bundles, app environment variables

Revision ID: 0003_deployments
Revises: 0002_auth_logins
Create Date: 2026-11-30 04:00:00

Every app is a deployed bundle run as its own processes: a deployment row per upload,
with its status (building, failed, active, inactive) and the reason of a failure.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_deployments"
down_revision = "0002_auth_logins"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entrypoint", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('building', 'failed', 'active', 'inactive')", name="ck_deployments_status"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deployments_app_id", "deployments", ["app_id"])
    op.create_table(
        "app_env_vars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "name", name="uq_app_env_vars_name"),
    )
    op.create_index("ix_app_env_vars_app_id", "app_env_vars", ["app_id"])


def downgrade():
    op.drop_table("app_env_vars")
    op.drop_table("deployments")
