"""Bundles: check an uploaded tar.gz completely before unpacking it, and pack a folder.

A bundle is untrusted input. Every member is checked (type, name, size, count) before
anything is written; the archive is unpacked into a temporary sibling of the destination
and renamed into place, so a refusal or a failure leaves nothing behind.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

MiB = 1024 * 1024
REQUIREMENTS = "requirements.txt"
SKIPPED_NAMES = frozenset({"__pycache__", ".git", ".venv", ".ipynb_checkpoints"})
_ENTRYPOINT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


class BundleError(Exception):
    """A bundle was refused; `status` is the HTTP status to answer with (400, 413, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _CappedReader(io.RawIOBase):
    """A seekable view of a gzip stream that refuses to decompress past `cap` bytes.

    tarfile seeks over member data by decompressing it; the cap bounds that work, so a
    gzip bomb costs at most `cap` bytes of decompression, never memory.
    """

    def __init__(self, raw: gzip.GzipFile, cap: int) -> None:
        self._raw = raw
        self._cap = cap

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._raw.tell() + offset
        if whence == io.SEEK_END:
            raise io.UnsupportedOperation("seeking from the end of a bundle")
        if target > self._cap:
            raise BundleError(413, f"the bundle unpacks to more than {self._cap} bytes")
        return self._raw.seek(target)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        room = self._cap - self._raw.tell()
        if room <= 0 and len(buffer):
            if self._raw.read(1):
                raise BundleError(413, f"the bundle unpacks to more than {self._cap} bytes")
            return 0
        view = memoryview(buffer)[: max(room, 0)]
        return self._raw.readinto(view)


def _clean_name(name: str) -> str:
    """The member's path inside the bundle ('' for the root itself), or a 422."""
    if "\x00" in name or "\\" in name:
        raise BundleError(422, f"member {name!r}: backslash or NUL in its name")
    if name.startswith("/"):
        raise BundleError(422, f"member {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BundleError(422, f"member {name!r}: '..' in its path")
    return "/".join(parts)


def _kind(member: tarfile.TarInfo) -> str:
    """What a member that is neither a file nor a folder is, in words."""
    if member.issym():
        return f"a symlink to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.isdev():
        return "a fifo" if member.isfifo() else "a device"
    return "an unsupported member type"


def _check_members(tar: tarfile.TarFile, *, max_unpacked: int, max_members: int) -> list[str]:
    """Read every header; refuse anything unsafe; return the cleaned member names."""
    names: list[str] = []
    seen: dict[str, bool] = {}  # name -> is a directory
    total = 0
    while (member := tar.next()) is not None:
        if len(names) >= max_members:
            raise BundleError(413, f"the bundle has more than {max_members} members")
        name = _clean_name(member.name)
        if not (member.isreg() or member.isdir()):
            raise BundleError(422, f"member {member.name!r}: {_kind(member)}, not allowed")
        total += member.size
        if total > max_unpacked:
            raise BundleError(413, f"the bundle declares more than {max_unpacked} bytes")
        if name in seen and not (seen[name] and member.isdir()):
            raise BundleError(422, f"member {member.name!r}: appears twice")
        parents = PurePosixPath(name).parents
        if any(seen.get(str(p)) is False for p in parents):
            raise BundleError(422, f"member {member.name!r}: lies under a file")
        seen[name] = member.isdir()
        names.append(name)
    return names


def _top_folder(names: list[str]) -> str | None:
    """The single top-level folder every member sits under, if there is one."""
    tops = {n.split("/", 1)[0] for n in names if n}
    if len(tops) != 1:
        return None
    top = tops.pop()
    return top if any(n.startswith(top + "/") for n in names) else None


def _normalise_modes(root: Path) -> None:
    """0755 for folders and executables, 0644 for other files: no setuid, no group write."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)  # noqa: S103 - the app (another uid) reads its bundle
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            executable = os.stat(path).st_mode & 0o111
            os.chmod(path, 0o755 if executable else 0o644)


def unpack_bundle(
    data: bytes,
    dest: Path,
    *,
    max_compressed: int = 50 * MiB,
    max_unpacked: int = 200 * MiB,
    max_members: int = 10_000,
) -> list[str]:
    """Check `data` (a tar.gz) and unpack it as the new folder `dest`; return its files.

    The returned names are relative to `dest`, sorted, files only.
    """
    if len(data) > max_compressed:
        raise BundleError(413, f"the bundle is larger than {max_compressed} bytes")
    if not data.startswith(b"\x1f\x8b"):
        raise BundleError(400, "the bundle is not a gzip file (expected a .tar.gz)")
    if dest.exists():
        raise BundleError(422, f"{dest.name} already exists")
    cap = max_unpacked + 1024 * (max_members + 20)  # room for headers and padding
    try:
        with (
            gzip.GzipFile(fileobj=io.BytesIO(data)) as raw,
            tarfile.open(fileobj=io.BufferedReader(_CappedReader(raw, cap)), mode="r:") as tar,
        ):
            names = _check_members(tar, max_unpacked=max_unpacked, max_members=max_members)
            top = _top_folder(names)
            inner = [n.removeprefix(f"{top}/") for n in names if n != top] if top else names
            if REQUIREMENTS not in inner:
                where = f"inside {top}/" if top else "at the root"
                raise BundleError(422, f"the bundle has no {REQUIREMENTS} {where}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
            try:
                tar.extractall(tmp, filter="data")
                root = tmp / top if top else tmp
                _normalise_modes(root)
                os.rename(root, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except BundleError:
        raise
    except tarfile.FilterError as exc:
        raise BundleError(422, f"the bundle was refused while unpacking: {exc}") from exc
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise BundleError(400, f"the bundle is not a valid tar.gz: {exc}") from exc
    files = {n for n in inner if n and (dest / n).is_file()}
    return sorted(files)


def check_entrypoint(value: str) -> str:
    """Return `value` if it is `module:attribute` (dotted names allowed), else a 422."""
    if not _ENTRYPOINT.fullmatch(value):
        raise BundleError(422, f"entrypoint {value!r} is not of the form module:attribute")
    return value


def _skipped(name: str) -> bool:
    return name in SKIPPED_NAMES or name.endswith(".pyc")


def pack_directory(src: Path) -> bytes:
    """A tar.gz of the folder `src`, in sorted order and without owner names.

    Skips caches and tool folders (`__pycache__`, `*.pyc`, `.git`, `.venv`,
    `.ipynb_checkpoints`) at any depth; symlinks to files are stored as the file.
    """
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
            base = Path(dirpath)
            for name in sorted(dirnames) + sorted(f for f in filenames if not _skipped(f)):
                path = base / name
                if path.is_symlink() and not path.is_file():
                    continue
                arcname = path.relative_to(src).as_posix()
                info = tar.gettarinfo(str(path.resolve()), arcname=arcname)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)
    return buffer.getvalue()
