"""How the platform spells usernames and group paths, for code running inside an app.

The rules are the platform's own (``normalize_username``, ``normalize_group`` and
``group_covers`` of ``roles.py``), which this library ships as :mod:`dash_appkit.roles`:
an app runs in its own virtual environment where the portal is not installed.
"""

from __future__ import annotations

from dash_appkit.roles import group_covers, normalize_group, normalize_username

__all__ = ["group_covers", "normalize_group", "normalize_username"]
