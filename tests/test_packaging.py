"""pyproject.toml declares the dependencies; requirements*.txt lock them, and only them.

Every declared dependency is pinned in the lock at a version its bound allows, and every
pin is a declared dependency or something one of them needs (read from the installed
packages' metadata), so a pin nothing uses cannot stay behind.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(spec) for spec in PROJECT["dependencies"]]
DEV = [Requirement(spec) for spec in PROJECT["optional-dependencies"]["dev"]]


def pins(name: str) -> dict[str, str]:
    """The ``name==version`` lines of a lock file (not its ``-r`` includes)."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def needed(roots: list[Requirement]) -> set[str]:
    """The roots and everything they require, transitively, with the extras they ask for."""
    seen: set[str] = set()
    todo = [(root.name, frozenset(root.extras)) for root in roots]
    while todo:
        name, extras = todo.pop()
        if canonicalize_name(name) in seen:
            continue
        seen.add(canonicalize_name(name))
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue  # not installed: the pin test below names it
        for spec in map(Requirement, requires):
            wanted = spec.marker is None or any(
                spec.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if wanted:
                todo.append((spec.name, frozenset(spec.extras)))
    return seen


@pytest.mark.parametrize(
    ("lock", "declared"), [("requirements.txt", RUNTIME), ("requirements-dev.txt", DEV)]
)
def test_every_declared_dependency_is_pinned_within_its_bound(
    lock: str, declared: list[Requirement]
) -> None:
    locked = pins(lock)
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not pinned in {lock}"
        assert requirement.specifier.contains(locked[name]), f"{lock} pins {name}=={locked[name]}"


@pytest.mark.parametrize(
    ("lock", "declared"), [("requirements.txt", RUNTIME), ("requirements-dev.txt", DEV)]
)
def test_every_pin_is_needed(lock: str, declared: list[Requirement]) -> None:
    unused = set(pins(lock)) - needed(declared)
    assert not unused, f"{lock} pins what no declared dependency needs: {sorted(unused)}"


def test_the_lock_is_what_is_installed() -> None:
    for lock in ("requirements.txt", "requirements-dev.txt"):
        for name, version in pins(lock).items():
            assert distribution(name).version == version, name
