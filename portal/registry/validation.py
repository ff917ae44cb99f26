"""Checking what callers ask the registry to store, field by field.

Every value is checked and normalised before anything is written, so a request with one
bad field changes nothing. Shape errors (not an object, unknown field) are ``Malformed``;
a value of the wrong type or out of range is ``Invalid``, with a message saying which
field and why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from roles import FIELD_ACTIONS, AccessLevel, normalize_group, normalize_username

from .errors import Invalid, Malformed

__all__ = [
    "EDITABLE_FIELDS",
    "PRINCIPAL_KEYS",
    "check_access",
    "check_description",
    "check_idle_timeout",
    "check_memory_limit",
    "check_principals",
    "check_slug",
    "check_tags",
    "check_thumbnail",
    "check_title",
    "check_username",
    "check_visible",
    "check_workers",
    "is_hosted_thumbnail",
    "unsafe_character",
]

#: Fields of an app that ``update_app`` accepts (the PATCH body of /api/apps/<slug>):
#: those that ``roles.FIELD_ACTIONS`` says who may change.
EDITABLE_FIELDS = frozenset(FIELD_ACTIONS)
#: Bounds of the process settings (a 2-core laptop to a large host).
WORKERS = (1, 16)
IDLE_TIMEOUT_S = (10, 7 * 24 * 3600)
MEMORY_LIMIT_MB = (64, 64 * 1024)
PRINCIPAL_KEYS = frozenset({"users", "groups"})

MAX_TITLE = 120
MAX_DESCRIPTION = 2000
MAX_TAGS = 20
MAX_TAG = 40
MAX_PRINCIPALS = 1000
MAX_NAME = 255
#: The only thumbnails shown: images uploaded to the platform, named by their content's
#: SHA-256 (portal/thumbnails.py). Never an outside URL: it would load for every viewer.
HOSTED_THUMBNAIL = re.compile(r"/thumbnails/[0-9a-f]{64}\.(?:png|jpg|gif|webp)")

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Keycloak's default user profile forbids these in usernames (plus whitespace).
_USERNAME_FORBIDDEN = re.compile(r"[\s<>&\"'$%!#?§;*~/\\|^=\[\]{}()\x00-\x1f\x7f]")
#: Unicode categories no text field may hold: controls, format characters (bidi
#: overrides and isolates, zero-width spaces and joiners, BOM, soft hyphen), surrogates,
#: private use, unassigned code points, line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: Letters that render as nothing (Hangul fillers), used to fake empty or equal names.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_LINE_BREAKS = frozenset("\n\r\t")


def _invalid(field: str, why: str) -> Invalid:
    return Invalid(f"{field}: {why}", field=field)


def unsafe_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character ``text`` may not hold, named (``U+202E RIGHT-TO-LEFT OVERRIDE``).

    The one rule for every text people see (titles, descriptions, tags, names, audit
    text): no control, bidi or invisible character that could make one text look like
    another (``Sa\\u202eles``) or hide part of it. ``multiline`` allows line breaks and tabs.
    """
    for char in text:
        if multiline and char in _LINE_BREAKS:
            continue
        if char in _INVISIBLE_LETTERS or unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()
    return None


def _check_characters(field: str, text: str, *, multiline: bool = False) -> str:
    found = unsafe_character(text, multiline=multiline)
    if found is not None:
        raise _invalid(field, f"must not contain control, bidi or invisible characters ({found})")
    return text


def check_slug(value: Any) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise _invalid(
            "slug", "1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def check_title(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("title", "must be a string")
    title = value.strip()
    if not title:
        raise _invalid("title", "must not be empty")
    if len(title) > MAX_TITLE:
        raise _invalid("title", f"at most {MAX_TITLE} characters")
    return _check_characters("title", title)


def check_description(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("description", "must be a string")
    if len(value) > MAX_DESCRIPTION:
        raise _invalid("description", f"at most {MAX_DESCRIPTION} characters")
    return _check_characters("description", value.strip(), multiline=True)


def check_tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _invalid("tags", "must be a list of strings")
    tags: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise _invalid("tags", "every tag must be a non-empty string")
        tag = item.strip()
        if len(tag) > MAX_TAG:
            raise _invalid("tags", f"a tag has at most {MAX_TAG} characters")
        _check_characters("tags", tag)
        if tag.casefold() not in seen:  # "Sales" and "sales" are one tag
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _invalid("tags", f"at most {MAX_TAGS} tags")
    return tuple(tags)


def is_hosted_thumbnail(value: str | None) -> bool:
    """Whether ``value`` names an image the platform hosts (an upload)."""
    return value is not None and HOSTED_THUMBNAIL.fullmatch(value) is not None


def check_thumbnail(value: Any) -> str | None:
    """An uploaded image's path (``/thumbnails/<sha256>.png``); ``None`` removes it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("thumbnail", "must be a string or null")
    url = value.strip()
    if not url:
        return None
    if not is_hosted_thumbnail(url):
        raise _invalid(
            "thumbnail",
            "must be an image uploaded to the platform (PUT /api/apps/<slug>/thumbnail); "
            "outside URLs and other paths are not accepted",
        )
    return url


def check_access(value: Any, *, allowed: frozenset[AccessLevel] | None = None) -> AccessLevel:
    """An access level by name; ``allowed`` is the global policy's set (Invalid outside it)."""
    if not isinstance(value, str) or value.strip().lower() not in AccessLevel._value2member_map_:
        names = ", ".join(level.value for level in AccessLevel)
        raise _invalid("access", f"must be one of {names}")
    level = AccessLevel(value.strip().lower())
    if allowed is not None and level not in allowed:
        raise _invalid("access", f"the portal's viewer access policy does not allow {level.value}")
    return level


def check_visible(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid("visible_in_portal", "must be true or false")
    return value


def _bounded(field: str, value: Any, bounds: tuple[int, int], *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        none = " or null" if optional else ""
        raise _invalid(field, f"must be a whole number from {low} to {high}{none}")
    return value


def check_workers(value: Any) -> int:
    return _bounded("workers", value, WORKERS, optional=False)


def check_idle_timeout(value: Any) -> int | None:
    return _bounded("idle_timeout_s", value, IDLE_TIMEOUT_S, optional=True)


def check_memory_limit(value: Any) -> int | None:
    return _bounded("memory_limit_mb", value, MEMORY_LIMIT_MB, optional=True)


def check_username(value: Any, *, field: str = "username") -> str:
    """A username, normalised as Keycloak stores it (lower case)."""
    if not isinstance(value, str):
        raise _invalid(field, "a username must be a string")
    name = normalize_username(value)
    if not name or len(name) > MAX_NAME or _USERNAME_FORBIDDEN.search(name):
        raise _invalid(field, f"{value!r} is not a valid username")
    return _check_characters(field, name)


def _check_group(value: Any, *, field: str) -> str:
    if not isinstance(value, str):
        raise _invalid(field, "a group must be a string path like /sales/east")
    path = normalize_group(value)
    if path == "/" or len(path) > MAX_NAME:
        raise _invalid(field, f"{value!r} is not a valid group path")
    return _check_characters(field, path)


def check_principals(field: str, value: Any) -> dict[str, frozenset[str]]:
    """``{"users": [...], "groups": [...]}``, either key optional; each list replaces the old one.

    Returns only the keys that were given, normalised (usernames lower-case, group
    paths as ``/a/b``).
    """
    if not isinstance(value, Mapping):
        raise _invalid(field, 'must be an object like {"users": [...], "groups": [...]}')
    unknown = sorted(set(value) - PRINCIPAL_KEYS)
    if unknown:
        raise Malformed(f"{field}: unknown keys {unknown}", field=field, unknown=unknown)
    result: dict[str, frozenset[str]] = {}
    for key in ("users", "groups"):
        if key not in value:
            continue
        items = value[key]
        if not isinstance(items, list | tuple):
            raise _invalid(f"{field}.{key}", "must be a list of strings")
        if len(items) > MAX_PRINCIPALS:
            raise _invalid(f"{field}.{key}", f"at most {MAX_PRINCIPALS} entries")
        if key == "users":
            result[key] = frozenset(check_username(i, field=f"{field}.users") for i in items)
        else:
            result[key] = frozenset(_check_group(i, field=f"{field}.groups") for i in items)
    return result
