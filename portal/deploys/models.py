"""Tables of deployments and app environment variables.

A deployment is one uploaded bundle of one app: built, started, then serving (``active``)
until a newer one takes over (``inactive``), or ``failed`` with the reason. The schema is
owned by Alembic (``portal/migrations/versions/0003_deployments.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.registry.models import UTCDateTime, utcnow

__all__ = ["AppEnvVar", "Deployment", "DeploymentStatus"]


class DeploymentStatus:
    """The contract's statuses of a deployment."""

    BUILDING = "building"
    FAILED = "failed"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Deployment(db.Model):
    """One bundle of one app, and what became of it."""

    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('building', 'failed', 'active', 'inactive')", name="ck_deployments_status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    entrypoint: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Why it failed, in words for the owner (the build log has the details).
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The key of the environment it was built into (shared by equal requirements).
    environment: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AppEnvVar(db.Model):
    """An environment variable of one app, given to its processes at their next start."""

    __tablename__ = "app_env_vars"
    __table_args__ = (UniqueConstraint("app_id", "name", name="uq_app_env_vars_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
