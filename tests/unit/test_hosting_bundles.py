"""Bundles: every refusal with its status, good bundles, nothing left behind, pack round trip."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from portal.hosting.bundles import BundleError, check_entrypoint, pack_directory, unpack_bundle


def make_tar(*members: tuple[str, str | bytes | None], kind: bytes = tarfile.REGTYPE) -> bytes:
    """A tar.gz from (name, content) pairs; content None makes a folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = content.encode() if isinstance(content, str) else content
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def special(name: str, kind: bytes, **fields: object) -> bytes:
    """A tar.gz with requirements.txt and one special member (link, device, fifo...)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        req = tarfile.TarInfo("requirements.txt")
        tar.addfile(req, io.BytesIO(b""))
        info = tarfile.TarInfo(name)
        info.type = kind
        for key, value in fields.items():
            setattr(info, key, value)
        tar.addfile(info)
    return buffer.getvalue()


GOOD = make_tar(("requirements.txt", "six==1.16.0\n"), ("app.py", "app = 1\n"))


def snapshot(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def refuse(data: bytes, tmp_path: Path, status: int, words: str, **limits: int) -> None:
    """Unpacking `data` is refused with `status` and a message containing `words`."""
    dest = tmp_path / "bundles" / "demo" / "1"
    dest.parent.mkdir(parents=True, exist_ok=True)
    before = snapshot(tmp_path)
    with pytest.raises(BundleError) as caught:
        unpack_bundle(data, dest, **limits)
    assert caught.value.status == status
    assert words in str(caught.value)
    assert snapshot(tmp_path) == before
    assert not dest.exists()


def test_good_bundle(tmp_path: Path) -> None:
    dest = tmp_path / "b"
    assert unpack_bundle(GOOD, dest) == ["app.py", "requirements.txt"]
    assert (dest / "app.py").read_text() == "app = 1\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "app.py").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no temporary sibling left


def test_one_top_folder_is_stripped(tmp_path: Path) -> None:
    data = make_tar(
        ("myapp", None),
        ("myapp/requirements.txt", ""),
        ("myapp/pkg", None),
        ("myapp/pkg/mod.py", "x = 1\n"),
    )
    assert unpack_bundle(data, tmp_path / "b") == ["pkg/mod.py", "requirements.txt"]
    assert (tmp_path / "b" / "pkg" / "mod.py").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_dot_slash_names_and_modes(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, mode in (("./requirements.txt", 0o6777), ("./run.sh", 0o700)):
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid = mode, 4242, 4242
            tar.addfile(info, io.BytesIO(b""))
    assert unpack_bundle(buffer.getvalue(), tmp_path / "b") == ["requirements.txt", "run.sh"]
    req, run = tmp_path / "b" / "requirements.txt", tmp_path / "b" / "run.sh"
    assert stat.S_IMODE(req.stat().st_mode) == 0o755  # no setuid/setgid/sticky kept
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    assert req.stat().st_uid == os.geteuid()  # owned by the caller, not the tar's uid


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"PK\x03\x04 a zip file", "not a gzip"),
        (gzip.compress(b"plain text, not a tar" * 40), "not a valid tar"),
        (b"\x1f\x8b\x08\x00garbage", "not a valid tar"),
    ],
)
def test_not_a_tar_gz(tmp_path: Path, data: bytes, words: str) -> None:
    refuse(data, tmp_path, 400, words)


def test_size_limits(tmp_path: Path) -> None:
    refuse(GOOD, tmp_path, 413, "larger than", max_compressed=len(GOOD) - 1)
    big = make_tar(("requirements.txt", ""), ("data.bin", b"\0" * 5000))
    refuse(big, tmp_path, 413, "more than 4000 bytes", max_unpacked=4000)
    many = make_tar(("requirements.txt", ""), *[(f"f{i}.py", "") for i in range(20)])
    refuse(many, tmp_path, 413, "more than 10 members", max_members=10)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("/etc/evil", "absolute path"),
        ("../evil", "'..'"),
        ("pkg/../../evil", "'..'"),
        ("pkg\\evil.py", "backslash"),
    ],
)
def test_bad_names(tmp_path: Path, name: str, words: str) -> None:
    data = make_tar(("requirements.txt", ""), (name, "x"))
    refuse(data, tmp_path, 422, words)
    with pytest.raises(BundleError, match=repr(name).replace("\\", "\\\\")):
        unpack_bundle(data, tmp_path / "x")


def test_nul_in_a_name(tmp_path: Path) -> None:
    # A non-ASCII name goes into a PAX header, which keeps the NUL verbatim.
    data = make_tar(("requirements.txt", ""), ("ök\x00.py", "x"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if "\x00" not in tar.getnames()[1]:
            pytest.fail("the test tar lost its NUL")
    refuse(data, tmp_path, 422, "NUL")


@pytest.mark.parametrize(
    ("kind", "fields", "words"),
    [
        (tarfile.SYMTYPE, {"linkname": "/etc/passwd"}, "a symlink to '/etc/passwd'"),
        (tarfile.SYMTYPE, {"linkname": "requirements.txt"}, "a symlink"),
        (tarfile.LNKTYPE, {"linkname": "requirements.txt"}, "a hard link"),
        (tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3}, "a device"),
        (tarfile.BLKTYPE, {"devmajor": 8, "devminor": 0}, "a device"),
        (tarfile.FIFOTYPE, {}, "a fifo"),
    ],
)
def test_member_types(tmp_path: Path, kind: bytes, fields: dict, words: str) -> None:
    refuse(special("thing", kind, **fields), tmp_path, 422, f"member 'thing': {words}")


def test_duplicates_and_files_used_as_folders(tmp_path: Path) -> None:
    twice = make_tar(("requirements.txt", ""), ("a.py", "1"), ("a.py", "2"))
    refuse(twice, tmp_path, 422, "appears twice")
    under = make_tar(("requirements.txt", ""), ("a", "file"), ("a/b.py", "x"))
    refuse(under, tmp_path, 422, "lies under a file")


def test_requirements_are_required(tmp_path: Path) -> None:
    refuse(make_tar(("app.py", "x")), tmp_path, 422, "no requirements.txt at the root")
    nested = make_tar(("myapp/app.py", "x"), ("myapp/sub/requirements.txt", ""))
    refuse(nested, tmp_path, 422, "no requirements.txt inside myapp/")


def test_existing_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundles" / "demo" / "1").mkdir(parents=True)
    with pytest.raises(BundleError) as caught:
        unpack_bundle(GOOD, tmp_path / "bundles" / "demo" / "1")
    assert caught.value.status == 422


def test_entrypoints() -> None:
    assert check_entrypoint("app:app") == "app:app"
    assert check_entrypoint("pkg.web:server.app") == "pkg.web:server.app"
    for bad in ("app", "app:", ":app", "app:app:x", "a b:c", "app:1x", "app;rm:x", "ä:b"):
        with pytest.raises(BundleError) as caught:
            check_entrypoint(bad)
        assert caught.value.status == 422


def test_pack_then_unpack(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel, text in {
        "requirements.txt": "six\n",
        "app.py": "app = 1\n",
        "data/rows.csv": "a,b\n",
        "pkg/__init__.py": "",
        "pkg/__pycache__/x.cpython-311.pyc": "junk",
        "pkg/y.pyc": "junk",
        ".git/HEAD": "ref",
        ".venv/bin/python": "",
        "nb/.ipynb_checkpoints/a.ipynb": "{}",
    }.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    (src / "link.txt").symlink_to(src / "app.py")
    data = pack_directory(src)
    assert data == pack_directory(src)  # deterministic
    files = unpack_bundle(data, tmp_path / "out")
    assert files == [
        "app.py",
        "data/rows.csv",
        "link.txt",
        "pkg/__init__.py",
        "requirements.txt",
    ]
    assert (tmp_path / "out" / "link.txt").read_text() == "app = 1\n"
    assert not (tmp_path / "out" / "link.txt").is_symlink()
    assert (tmp_path / "out" / "nb").is_dir()
