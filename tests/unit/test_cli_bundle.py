"""What `dash-platform deploy` puts in the bundle: ignore files and the tar.gz itself."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from dash_platform_cli.bundle import IgnoreRules, bundle_files, pack


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def tar_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {m.name for m in archive.getmembers() if m.isfile()}


APP = {
    "app.py": "app = None\n",
    "requirements.txt": "dash\n",
    "data/sales.csv": "a,b\n",
    "data/big.parquet": "x",
    "notes.log": "log",
    "sub/debug.log": "log",
    "keep.log": "keep",
    "build/out.txt": "x",
    "src/build/inner.txt": "x",
    "secret.env": "TOKEN=1",
    "docs/build": "a file named build",
    ".git/config": "[core]",
    ".venv/bin/python": "",
    "pkg/__pycache__/m.cpython-311.pyc": "",
    "pkg/m.py": "",
    "pkg/old.pyc": "",
}


def test_no_ignore_file_keeps_everything_but_the_always_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path, APP)
    names = tar_names(pack(tmp_path))
    assert names == set(APP) - {
        ".git/config",
        ".venv/bin/python",
        "pkg/__pycache__/m.cpython-311.pyc",
        "pkg/old.pyc",
    }


def test_gitignore_rules(tmp_path: Path) -> None:
    make_tree(tmp_path, APP)
    (tmp_path / ".gitignore").write_text(
        "# comment\n\n*.log\n!keep.log\nbuild/\n/secret.env\ndata/*.parquet\n"
    )
    names = tar_names(pack(tmp_path))
    assert "app.py" in names and "requirements.txt" in names and "pkg/m.py" in names
    assert "data/sales.csv" in names
    assert "keep.log" in names  # negation
    assert "notes.log" not in names and "sub/debug.log" not in names  # any depth
    assert "build/out.txt" not in names and "src/build/inner.txt" not in names  # dirs, any depth
    assert "docs/build" in names  # a trailing / matches folders only
    assert "secret.env" not in names  # anchored
    assert "data/big.parquet" not in names
    assert ".gitignore" in names


def test_dashignore_wins_over_gitignore(tmp_path: Path) -> None:
    make_tree(tmp_path, APP)
    (tmp_path / ".gitignore").write_text("*.csv\n")
    (tmp_path / ".dashignore").write_text("*.log\n")
    files = bundle_files(tmp_path)
    assert "data/sales.csv" in files
    assert "notes.log" not in files


def test_always_skipped_cannot_be_taken_back(tmp_path: Path) -> None:
    make_tree(tmp_path, APP)
    (tmp_path / ".dashignore").write_text("!.git/\n!*.pyc\n!.venv\n")
    names = tar_names(pack(tmp_path))
    assert not any(n.startswith((".git/", ".venv/")) or n.endswith(".pyc") for n in names)


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.csv", "a/b/c.csv", False, True),
        ("/*.csv", "a/c.csv", False, False),
        ("/*.csv", "c.csv", False, True),
        ("a/*.csv", "a/c.csv", False, True),
        ("a/*.csv", "x/a/c.csv", False, False),  # a slash inside anchors the pattern
        ("file?.txt", "file1.txt", False, True),
        ("file?.txt", "file10.txt", False, False),
        ("file[0-9].txt", "file7.txt", False, True),
        ("file[!0-9].txt", "file7.txt", False, False),
        ("**/logs", "deep/er/logs", True, True),
        ("logs/**", "logs/a/b.txt", False, True),
        ("a/**/z", "a/b/c/z", False, True),
        ("a/**/z", "a/z", False, True),
        ("cache/", "cache", False, False),
        ("cache/", "cache", True, True),
        ("\\#hash", "#hash", False, True),
        ("name   ", "name", False, True),  # trailing spaces are dropped
        ("*", "x/y", False, True),
    ],
)
def test_pattern(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules([pattern]).ignored(path, is_dir=is_dir) is ignored


def test_a_file_in_an_ignored_folder_cannot_be_taken_back(tmp_path: Path) -> None:
    make_tree(tmp_path, {"app.py": "", "out/keep.txt": "", "out/drop.txt": ""})
    (tmp_path / ".gitignore").write_text("out/\n!out/keep.txt\n")
    assert bundle_files(tmp_path) == [".gitignore", "app.py"]


def test_folder_contents_ignored_but_one_file_back(tmp_path: Path) -> None:
    make_tree(tmp_path, {"app.py": "", "out/keep.txt": "", "out/drop.txt": ""})
    (tmp_path / ".gitignore").write_text("out/*\n!out/keep.txt\n")
    assert bundle_files(tmp_path) == [".gitignore", "app.py", "out", "out/keep.txt"]


def test_tar_has_relative_paths_and_no_owner(tmp_path: Path) -> None:
    make_tree(tmp_path, {"app.py": "print(1)\n", "requirements.txt": "dash\n", "assets/s.css": ""})
    with tarfile.open(fileobj=io.BytesIO(pack(tmp_path)), mode="r:gz") as archive:
        members = archive.getmembers()
        assert sorted(m.name for m in members) == [
            "app.py",
            "assets",
            "assets/s.css",
            "requirements.txt",
        ]
        assert all(m.uid == 0 and m.gid == 0 and not m.uname for m in members)
        assert all(m.isfile() or m.isdir() for m in members)
        app = archive.extractfile("app.py")
        assert app is not None and app.read() == b"print(1)\n"


def test_links_to_files_are_packed_as_files_and_links_to_folders_left_out(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"shared.csv": "1,2\n", "lib/x.py": ""})
    app = make_tree(tmp_path / "app", {"app.py": ""})
    os.symlink(outside / "shared.csv", app / "shared.csv")
    os.symlink(outside / "lib", app / "lib")
    with tarfile.open(fileobj=io.BytesIO(pack(app)), mode="r:gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert set(members) == {"app.py", "shared.csv"}
    assert members["shared.csv"].isfile() and members["shared.csv"].size == 4
