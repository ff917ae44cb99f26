"""Tables of the app registry, the portal policy, the audit log and viewer analytics.

The schema is owned by Alembic (``portal/migrations``): these classes describe it for
queries and for ``flask db migrate``; nothing here creates tables. Usernames and group
paths are stored normalised (``roles.normalize_username`` / ``normalize_group``) by the
store, so a lookup never has to guess a spelling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from portal.extensions import db

__all__ = [
    "App",
    "AppGrant",
    "AppView",
    "AuditEvent",
    "GrantRelation",
    "PortalPolicy",
    "PrincipalType",
    "RegistryState",
    "UTCDateTime",
    "utcnow",
]

#: SQLite only auto-increments ``INTEGER PRIMARY KEY``; elsewhere the log tables may
#: outgrow 32 bits.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (what every timestamp column holds)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back as aware UTC.

    Naive UTC is the one representation SQLite and PostgreSQL agree on; callers only
    ever see aware datetimes, so no local-time mix-up can slip in.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL results on SQLite
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


class GrantRelation:
    """What a grant makes its principal: a co-owner or a viewer of the app."""

    CO_OWNER = "co_owner"
    VIEWER = "viewer"


class PrincipalType:
    """Whom a grant names: one user (username) or a group (full path, subgroups included)."""

    USER = "user"
    GROUP = "group"


class App(db.Model):
    """One app of the portal, mounted at ``/apps/<slug>/``."""

    __tablename__ = "apps"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_apps_slug"),
        CheckConstraint(
            "access IN ('unauthenticated', 'authenticated', 'restricted')",
            name="ck_apps_access",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    thumbnail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: Normalised username; ownership counts only while that user holds a seat.
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    access: Mapped[str] = mapped_column(String(20), nullable=False)
    visible_in_portal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: How the app runs: gunicorn workers, stop after this long idle, memory cap, stopped.
    workers: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    idle_timeout_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    memory_limit_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stopped: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    grants: Mapped[list[AppGrant]] = relationship(
        back_populates="app", cascade="all, delete-orphan", passive_deletes=True
    )


class AppGrant(db.Model):
    """A co-owner or viewer grant of one app to a user or a group."""

    __tablename__ = "app_grants"
    __table_args__ = (
        UniqueConstraint(
            "app_id", "relation", "principal_type", "principal", name="uq_app_grants_grant"
        ),
        # "Which apps does group /sales reach?" without scanning every grant.
        Index("ix_app_grants_principal", "principal_type", "principal"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE", name="fk_app_grants_app_id"), nullable=False
    )
    relation: Mapped[str] = mapped_column(String(16), nullable=False)
    principal_type: Mapped[str] = mapped_column(String(8), nullable=False)
    principal: Mapped[str] = mapped_column(String(255), nullable=False)

    app: Mapped[App] = relationship(back_populates="grants")


class RegistryState(db.Model):
    """One row whose ``version`` goes up in the same transaction as every registry write.

    Each process caches app records and compares this counter (one primary-key read)
    before trusting its cache, so a change made by any worker is seen by all at once.
    """

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class PortalPolicy(db.Model):
    """The global viewer-access policy (one row): which access levels apps may use."""

    __tablename__ = "portal_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    allowed_access_levels: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)


class AuditEvent(db.Model):
    """Who changed what, with the state before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_target_id", "target", "id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(255), nullable=False)
    before: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    after: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    detail: Mapped[Any | None] = mapped_column(JSON, nullable=True)


class AppView(db.Model):
    """One page view of an app, for Viewer Analytics. ``username`` is NULL when anonymous.

    Keyed by slug rather than a foreign key: recording a view must stay one cheap insert,
    and the history outlives the app's registry entry.
    """

    __tablename__ = "app_views"
    __table_args__ = (Index("ix_app_views_slug_at", "app_slug", "at"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    app_slug: Mapped[str] = mapped_column(String(64), nullable=False)
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
