"""What the App Manager's pickers may search the realm for, and what counts as a match.

Anyone holding a seat can ask for suggestions, so they must not become a way to list the
realm: a query needs ``SUGGEST_MIN_LENGTH`` characters, Keycloak's search syntax (``*``
wildcards, ``"exact"`` quotes) is refused rather than passed through, a user matches by
username or display-name prefix only (never by email), and at most ``SUGGEST_LIMIT``
names come back.
"""

from __future__ import annotations

import re

__all__ = [
    "CANDIDATES_PER_SUGGESTION",
    "SUGGEST_LIMIT",
    "SUGGEST_MIN_LENGTH",
    "names_start_with",
    "searchable",
]

SUGGEST_MIN_LENGTH = 2
SUGGEST_LIMIT = 10
#: Keycloak's search also matches emails: ask it for more candidates than are shown.
CANDIDATES_PER_SUGGESTION = 5
# Keycloak's search syntax and control characters.
_SEARCH_SYNTAX = re.compile(r'[*"\x00-\x1f\x7f]')


def searchable(text: str) -> str | None:
    """What someone typed, spaces collapsed and lower-case; None when it may not be searched."""
    needle = " ".join(text.split()).lower()
    if len(needle) < SUGGEST_MIN_LENGTH or _SEARCH_SYNTAX.search(needle):
        return None
    return needle


def names_start_with(needle: str, *names: str | None) -> bool:
    """Whether one of ``names`` (username, first, last, full name) starts with ``needle``."""
    return any(name and name.lower().startswith(needle) for name in names)
