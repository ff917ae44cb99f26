"""How the platform spells usernames and group paths, for code running inside an app.

The same rules as ``normalize_username``, ``normalize_group`` and ``group_covers`` in the
platform's ``roles.py``. They are repeated here, not imported, because an app runs in its
own virtual environment where only this library is installed, never the portal; a later
change may make ``roles.py`` import them from here instead.
"""

from __future__ import annotations

__all__ = ["group_covers", "normalize_group", "normalize_username"]


def normalize_username(name: str) -> str:
    """Keycloak stores usernames lower-case; people type "Bob"."""
    return name.strip().lower()


def normalize_group(path: str) -> str:
    """A group as the full path of the ``groups`` claim: ``/sales/east``."""
    parts = [p for p in path.strip().split("/") if p]
    return "/" + "/".join(parts)


def group_covers(grant: str, group: str) -> bool:
    """A grant to a group covers the group and all of its subgroups."""
    grant, group = normalize_group(grant), normalize_group(group)
    return grant != "/" and (group == grant or group.startswith(grant + "/"))
