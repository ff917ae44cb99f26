"""``dash-platform deploy``: pack, upload with progress, follow the build to its end."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from .api import Api
from .bundle import IgnoreRules, bundle_files, pack
from .errors import EXIT_BUILD_FAILED, CliError

__all__ = ["ProgressReader", "deploy", "follow_build"]


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} MB"


class ProgressReader:
    """A bytes body that reports each chunk as it is read (requests streams it as is)."""

    def __init__(self, data: bytes, report: Callable[[int, int], None]) -> None:
        self._buffer = io.BytesIO(data)
        self._total = len(data)
        self._report = report

    def __len__(self) -> int:
        return self._total

    def tell(self) -> int:
        return self._buffer.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._buffer.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        chunk = self._buffer.read(-1 if size is None else size)
        self._report(self._buffer.tell(), self._total)
        return chunk


def _progress(stream: IO[str]) -> Callable[[int, int], None]:
    """Upload progress on ``stream``: one line redrawn on a terminal, else quarter steps."""
    tty = stream.isatty()
    shown = {"step": -1, "sent": -1}

    def report(sent: int, total: int) -> None:
        if sent == shown["sent"]:
            return
        shown["sent"] = sent
        percent = 100 if total == 0 else sent * 100 // total
        text = f"uploading {_size(sent)} / {_size(total)} ({percent}%)"
        if tty:
            stream.write("\r" + text + ("\n" if sent >= total else ""))
        elif percent // 25 > shown["step"]:
            shown["step"] = percent // 25
            stream.write(text + "\n")
        stream.flush()

    return report


def follow_build(
    api: Api,
    slug: str,
    deployment_id: Any,
    *,
    out: IO[str],
    timeout: float,
    interval: float = 1.0,
) -> dict[str, Any]:
    """Poll the deployment, writing the new part of its build log each time, until it ends."""
    base = f"/api/apps/{slug}/deployments/{deployment_id}"
    shown = 0
    deadline = time.monotonic() + timeout

    def show_log() -> None:
        nonlocal shown
        text = api.request("GET", f"{base}/log", slug=slug).text
        if len(text) < shown:  # the log started over
            shown = 0
        if len(text) > shown:
            out.write(text[shown:])
            out.flush()
            shown = len(text)

    while True:
        state = api.json("GET", base, slug=slug)
        show_log()
        if state.get("status") != "building":
            return state
        if time.monotonic() > deadline:
            raise CliError(
                f"deployment {deployment_id} of {slug} is still building after {timeout:.0f} s "
                f"(follow it with: dash-platform deployments {slug})",
                EXIT_BUILD_FAILED,
            )
        time.sleep(interval)


def deploy(
    api: Api,
    folder: Path,
    slug: str,
    *,
    entrypoint: str,
    timeout: float,
    dry_run: bool = False,
) -> str | None:
    """Deploy ``folder`` to ``slug``; returns the app's URL (None for a dry run)."""
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder")
    rules, ignore_file = IgnoreRules.for_folder(folder)
    files = bundle_files(folder, rules)
    if not any(name == "requirements.txt" for name in files):
        click.echo(f"warning: {folder} has no requirements.txt at its root", err=True)
    data = pack(folder, files)
    rule_note = f", leaving out what {ignore_file} lists" if ignore_file else ""
    click.echo(f"packed {len(files)} files and folders ({_size(len(data))}){rule_note}", err=True)
    if dry_run:
        for name in files:
            click.echo(name)
        return None
    stderr = sys.stderr
    answer = api.json(
        "POST",
        f"/api/apps/{slug}/deployments",
        params={"entrypoint": entrypoint},
        data=ProgressReader(data, _progress(stderr)),
        headers={"Content-Type": "application/gzip"},
        slug=slug,
        bundle=True,
        ok=(200, 201, 202),
        timeout=(30, 600),
    )
    deployment_id = answer["id"]
    click.echo(f"deployment {deployment_id} of {slug}: building", err=True)
    final = follow_build(api, slug, deployment_id, out=stderr, timeout=timeout)
    status = final.get("status")
    if status == "failed":
        reason = final.get("error") or "see the build log above"
        raise CliError(f"build failed: {reason}", EXIT_BUILD_FAILED)
    click.echo(f"deployment {deployment_id} of {slug}: {status}", err=True)
    return api.config.app_url(slug)
