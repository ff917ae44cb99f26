"""Extension objects shared by the whole portal, bound to the app in ``create_app``.

Flask's pattern: create the extension once here, call ``init_app`` in the factory, so
blueprints import the object without importing the app.
"""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "db", "migrate"]


class Base(DeclarativeBase):
    """Declarative base of every table the platform owns."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
