"""Open redirects through ``next``: only local paths survive."""

from __future__ import annotations

import pytest

from portal.auth.redirects import safe_next

LOCAL = ["/", "/apps/sales/", "/manager/?tab=1", "/apps/sales/?q=a%20b", "/a/b#frag"]

HOSTILE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "evil.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/%09/evil.example",
    "/\r/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/%0d%0a/evil.example",
    "/%5C%5Cevil.example",
    "/\x00/evil.example",
    "//\tevil.example",
    "/\t\\evil.example",
    "https:evil.example",
    "",
    None,
]


@pytest.mark.parametrize("value", LOCAL)
def test_local_paths_are_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_everything_else_becomes_home(value: str | None) -> None:
    assert safe_next(value) == "/"


def test_default_is_configurable() -> None:
    assert safe_next("//evil.example", default="/portal") == "/portal"
