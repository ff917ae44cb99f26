"""Packing an app folder as the tar.gz bundle the platform takes.

What goes in follows ``.dashignore`` at the folder's root, or else its ``.gitignore``, in
the common subset of gitignore syntax: blank lines and ``#`` comments, ``*``, ``?``,
``[...]`` and ``**`` globs, a trailing ``/`` for folders only, a leading (or inner) ``/``
to anchor a pattern at the root, and ``!`` to take a path back in (not inside a folder
that is already left out, as in git). ``.git``, ``.venv``, ``__pycache__`` and ``*.pyc``
are always left out.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ALWAYS_SKIPPED", "IgnoreRules", "bundle_files", "pack"]

ALWAYS_SKIPPED = (".git/", ".venv/", "__pycache__/", "*.pyc")
IGNORE_FILES = (".dashignore", ".gitignore")


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def _class_end(glob: str, start: int) -> int:
    """Where the ``[...]`` class opened at ``start`` closes, or -1 if it does not."""
    j = start + 1
    if glob[j : j + 1] in ("!", "^"):
        j += 1
    if glob[j : j + 1] == "]":
        j += 1
    return glob.find("]", j)


def _translate(glob: str) -> str:
    """The regex of a gitignore glob (no leading or trailing slash left in it)."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        if glob.startswith("**/", i) and (i == 0 or glob[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i) and i + 2 == n and (i == 0 or glob[i - 1] == "/"):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[" and _class_end(glob, i) > 0:
            end = _class_end(glob, i)
            body = glob[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("[", "\\[") + "]")
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _rule(line: str) -> _Rule | None:
    line = line.rstrip("\n").rstrip("\r")
    if not line.endswith("\\ "):
        line = line.rstrip(" ")
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    elif line.startswith("\\"):
        line = line[1:]  # "\#file" and "\!file" are literal
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    prefix = "" if anchored else "(?:.*/)?"
    return _Rule(re.compile(f"^{prefix}{_translate(line)}$"), negated, dir_only)


class IgnoreRules:
    """Patterns in gitignore syntax; the last one that matches a path decides."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.rules = [rule for rule in map(_rule, lines) if rule is not None]
        self._always = [rule for rule in map(_rule, ALWAYS_SKIPPED) if rule is not None]

    @classmethod
    def for_folder(cls, folder: Path) -> tuple[IgnoreRules, str | None]:
        """The rules of ``folder``'s .dashignore, else .gitignore; and which file it was."""
        for name in IGNORE_FILES:
            path = folder / name
            if path.is_file():
                return cls(path.read_text(encoding="utf-8", errors="replace").splitlines()), name
        return cls(), None

    def ignored(self, path: str, *, is_dir: bool) -> bool:
        """Whether ``path`` (relative, with ``/``) is left out, its parents aside."""
        if any(r.regex.match(path) and (is_dir or not r.dir_only) for r in self._always):
            return True
        verdict = False
        for rule in self.rules:
            if (is_dir or not rule.dir_only) and rule.regex.match(path):
                verdict = not rule.negated
        return verdict


def bundle_files(folder: Path, rules: IgnoreRules | None = None) -> list[str]:
    """The relative paths (files and folders, ``/``-separated, sorted) that go in the bundle.

    Links to files are packed as the file they point to; links to folders are left out.
    """
    folder = Path(folder)
    if rules is None:
        rules, _ = IgnoreRules.for_folder(folder)
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder).as_posix()
        prefix = "" if base == "." else f"{base}/"
        kept_dirs = []
        for name in sorted(dirs):
            rel = prefix + name
            if os.path.islink(os.path.join(root, name)) or rules.ignored(rel, is_dir=True):
                continue
            kept_dirs.append(name)
            found.append(rel)
        dirs[:] = kept_dirs
        for name in files:
            rel = prefix + name
            if os.path.isfile(os.path.join(root, name)) and not rules.ignored(rel, is_dir=False):
                found.append(rel)
    return sorted(found)


def _clean(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def pack(folder: Path, files: Iterable[str] | None = None) -> bytes:
    """``folder`` as a tar.gz with paths relative to it (no top folder)."""
    folder = Path(folder)
    names = bundle_files(folder) if files is None else list(files)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", dereference=True) as archive:
        for name in names:
            archive.add(folder / name, arcname=name, recursive=False, filter=_clean)
    return buffer.getvalue()
