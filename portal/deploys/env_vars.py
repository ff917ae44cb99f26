"""An app's own environment variables: checked, stored encrypted, given only to its processes.

Values are sealed (:mod:`portal.sealing`) under a key derived from the platform's secret
key, so a copy of the database alone does not reveal them. They are read back only to start
the app's processes; no answer of the platform ever contains one.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.extensions import db
from portal.hosting.supervisor import carries_env_value
from portal.sealing import APP_ENV, seal, unseal

from .models import AppEnvVar

__all__ = [
    "MAX_VALUE",
    "EnvVarError",
    "check_name",
    "check_value",
    "names",
    "remove",
    "store",
    "values",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: The platform sets these itself: an app may not replace them.
_RESERVED = frozenset({"PATH", "HOME", "TMPDIR", "LANG", "PWD", "PYTHONUNBUFFERED"})
_RESERVED_PREFIXES = ("DASH_", "SUPERVISOR_")
MAX_VALUE = 32 * 1024


class EnvVarError(ValueError):
    """A name or value the platform refuses (the message says why)."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise EnvVarError("A name is letters, digits and underscores, not starting with a digit.")
    if name in _RESERVED or name.startswith(_RESERVED_PREFIXES):
        raise EnvVarError(f"{name} is set by the platform.")
    return name


def check_value(value: object) -> str:
    if not isinstance(value, str):
        raise EnvVarError("The value must be a string.")
    if len(value.encode()) > MAX_VALUE:
        raise EnvVarError(f"The value is longer than {MAX_VALUE} bytes.")
    if not carries_env_value(value):
        raise EnvVarError(
            "The value cannot be passed to a process: no NUL or line breaks, no ' ;' or ' #',"
            " and no quotes at both ends."
        )
    return value


def _rows(app_id: int) -> list[AppEnvVar]:
    query = select(AppEnvVar).where(AppEnvVar.app_id == app_id).order_by(AppEnvVar.name)
    return list(db.session.execute(query).scalars())


def names(app_id: int) -> list[str]:
    """The names of the app's variables, sorted."""
    return [row.name for row in _rows(app_id)]


def values(app_id: int) -> dict[str, str]:
    """The app's variables, decrypted: only for starting its processes."""
    found = {}
    for row in _rows(app_id):
        value = unseal(APP_ENV, row.value)
        if value is not None:  # else sealed under another secret key: unusable, leave it out
            found[row.name] = value
    return found


def store(app_id: int, name: str, value: str) -> bool:
    """Set one variable (joins the caller's transaction); True when it was new."""
    sealed = seal(APP_ENV, check_value(value))
    row = db.session.execute(
        select(AppEnvVar).where(AppEnvVar.app_id == app_id, AppEnvVar.name == check_name(name))
    ).scalar_one_or_none()
    if row is None:
        db.session.add(AppEnvVar(app_id=app_id, name=name, value=sealed))
        return True
    row.value = sealed
    return False


def remove(app_id: int, name: str) -> bool:
    """Unset one variable; False when it was not set."""
    row = db.session.execute(
        select(AppEnvVar).where(AppEnvVar.app_id == app_id, AppEnvVar.name == name)
    ).scalar_one_or_none()
    if row is None:
        return False
    db.session.delete(row)
    return True
