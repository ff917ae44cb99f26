"""Waiting for a started Keycloak: health, the realm's issuer, and why a start failed."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from kcctl.errors import ReadyTimeoutError, StartError
from kcctl.home import remember_dev_build
from kcctl.instance import Instance
from kcctl.process import is_ours

__all__ = ["failure_reason", "is_ready", "log_tail", "wait_ready"]

# Lines that mean the server will never become ready; checked while waiting.
_FATAL_LOG = re.compile(
    r"Failed to start server|Failed to import realm|Error while importing realm|"
    r"Script upload is disabled|Address already in use|ERROR: .*import",
    re.IGNORECASE,
)


def _alive(instance: Instance) -> bool:
    if instance.process is not None:
        return instance.process.poll() is None
    return is_ours(instance.pid, instance.home)


def _get_json(url: str, timeout: float = 3.0) -> dict[str, Any] | None:
    try:
        # Only ever http://127.0.0.1 URLs built by this module.
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            return json.loads(resp.read().decode("utf-8")) if resp.status == 200 else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def log_tail(instance: Instance | Path, lines: int = 30) -> str:
    """The last lines of the instance's log."""
    path = instance.log_file if isinstance(instance, Instance) else Path(instance)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def failure_reason(instance: Instance) -> str | None:
    """Why the start failed, from this run's log lines (None while nothing fatal is logged)."""
    try:
        with open(instance.log_file, "rb") as log:
            if os.fstat(log.fileno()).st_size >= instance.log_offset:  # else: rotated since
                log.seek(instance.log_offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    match = _FATAL_LOG.search(text)
    if not match:
        return None
    # Keycloak prints its reasons as "ERROR: <message>" lines after the fatal one.
    start = text.rfind("\n", 0, match.start()) + 1
    reasons: list[str] = []
    for line in text[start:].splitlines():
        _, sep, message = line.partition("ERROR: ")
        message = message.strip()
        wanted = sep and message and not message.startswith("For more details")
        if wanted and message not in reasons:
            reasons.append(message)
    if reasons:
        return "; ".join(reasons)
    end = text.find("\n", match.end())
    return text[start : end if end != -1 else None].strip()


def is_ready(instance: Instance) -> bool:
    """Health says UP and the realm's discovery document names the expected issuer."""
    health = _get_json(instance.health_url)
    if not health or health.get("status") != "UP":
        return False
    discovery = _get_json(instance.discovery_url)
    return bool(discovery) and discovery.get("issuer") == instance.issuer


def wait_ready(
    instance: Instance, timeout: float = 180, *, out: TextIO | None = sys.stderr
) -> float:
    """Block until ``instance`` is ready; returns the seconds waited.

    Prints a line every few seconds so a slow first start is visibly alive. Raises StartError
    (with the last log lines) if the process dies or the realm import fails, and
    ReadyTimeoutError after ``timeout`` seconds.
    """
    began = time.monotonic()
    next_report = 5.0
    while True:
        elapsed = time.monotonic() - began
        fatal = failure_reason(instance)
        if fatal or not _alive(instance):
            reason = fatal or "the Keycloak process exited"
            raise StartError(
                f"Keycloak failed to start: {reason}\n--- last lines of {instance.log_file}:\n"
                f"{log_tail(instance)}"
            )
        if is_ready(instance):
            remember_dev_build(instance.home)
            if out is not None:
                print(f"Keycloak ready after {elapsed:.0f} s: {instance.issuer}", file=out)
            return elapsed
        if elapsed > timeout:
            raise ReadyTimeoutError(
                f"Keycloak not ready after {timeout:.0f} s (still running, pid {instance.pid})"
                f"\n--- last lines of {instance.log_file}:\n{log_tail(instance)}"
            )
        if out is not None and elapsed >= next_report:
            print(f"  waiting for Keycloak on {instance.base_url} ... {elapsed:.0f} s", file=out)
            out.flush()
            next_report += 5.0
        time.sleep(1.0)
