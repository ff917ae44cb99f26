"""initial: app registry, grants, version counter, portal policy, audit log, app views

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-23 10:00:00

Hand-written and checked against portal/registry/models.py (tests compare the migrated
schema with the models). Seeds the two one-row tables: the registry version counter
and the portal policy (every access level allowed).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("thumbnail", sa.String(length=500), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("access", sa.String(length=20), nullable=False),
        sa.Column("visible_in_portal", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "access IN ('unauthenticated', 'authenticated', 'restricted')",
            name="ck_apps_access",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("slug", name="uq_apps_slug"),
    )
    op.create_index("ix_apps_owner", "apps", ["owner"], unique=False)

    op.create_table(
        "app_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("principal_type", sa.String(length=8), nullable=False),
        sa.Column("principal", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name="fk_app_grants_app_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_app_grants"),
        sa.UniqueConstraint(
            "app_id", "relation", "principal_type", "principal", name="uq_app_grants_grant"
        ),
    )
    op.create_index(
        "ix_app_grants_principal", "app_grants", ["principal_type", "principal"], unique=False
    )

    registry_state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_state"),
    )
    op.bulk_insert(registry_state, [{"id": 1, "version": 0}])

    op.create_table(
        "portal_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allowed_access_levels", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_portal_policy"),
    )
    # Plain SQL literals: PostgreSQL coerces them to json/timestamp, SQLite stores them as
    # the ORM would, and `upgrade --sql` can print them (a bound JSON value it cannot).
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")  # naive UTC, like UTCDateTime
    # The only value spliced in is our own timestamp.
    op.execute(
        "INSERT INTO portal_policy (id, allowed_access_levels, updated_at, updated_by) "  # noqa: S608
        f"""VALUES (1, '["unauthenticated", "authenticated", "restricted"]', '{now}', NULL)"""
    )

    op.create_table(
        "audit_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"], unique=False)
    op.create_index("ix_audit_events_target_id", "audit_events", ["target", "id"], unique=False)

    op.create_table(
        "app_views",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("app_slug", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_app_views"),
    )
    op.create_index("ix_app_views_slug_at", "app_views", ["app_slug", "at"], unique=False)


def downgrade():
    op.drop_index("ix_app_views_slug_at", table_name="app_views")
    op.drop_table("app_views")
    op.drop_index("ix_audit_events_target_id", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("portal_policy")
    op.drop_table("registry_state")
    op.drop_index("ix_app_grants_principal", table_name="app_grants")
    op.drop_table("app_grants")
    op.drop_index("ix_apps_owner", table_name="apps")
    op.drop_table("apps")
