"""Tables of the identity layer: which portal sessions belong to which Keycloak session.

Back-channel logout names a Keycloak session (``sid``) or a user (``sub``); these rows
let the portal find and end the matching server-side sessions at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

__all__ = ["LoginRecord", "RevokedBefore", "SeenLogoutToken"]


def _now() -> datetime:
    return datetime.now(UTC)


class LoginRecord(db.Model):
    """One sign-in: the portal session id and the Keycloak session it came from."""

    __tablename__ = "portal_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    keycloak_sid: Mapped[str | None] = mapped_column(String(255), index=True)
    sub: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, nullable=False, index=True
    )


class SeenLogoutToken(db.Model):
    """The ``jti`` of every accepted logout token, so none is accepted twice."""

    __tablename__ = "seen_logout_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class RevokedBefore(db.Model):
    """A user's tokens from sign-ins before ``not_before`` (Unix time) are refused.

    Written when the platform signs a user out, and when Keycloak reports that a user
    was disabled, deleted or signed out (its admin events).
    """

    __tablename__ = "revoked_before"

    sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    not_before: Mapped[float] = mapped_column(Float, nullable=False)
