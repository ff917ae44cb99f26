"""Logout-token ids already accepted, shared by every portal process through the database.

A replayed back-channel logout token must be refused (OpenID Back-Channel Logout 1.0);
with several gunicorn workers the memory of seen ids has to live outside any one process.
"""

from __future__ import annotations

import time

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from portal.auth.models import SeenLogoutToken
from portal.extensions import db

__all__ = ["DatabaseJtiStore"]


class DatabaseJtiStore:
    """A ``JtiStore`` on the platform database (a unique row per ``jti``)."""

    def add_if_new(self, jti: str, expires_at: float) -> bool:
        db.session.execute(delete(SeenLogoutToken).where(SeenLogoutToken.expires_at < time.time()))
        db.session.add(SeenLogoutToken(jti=jti, expires_at=expires_at))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True
