"""Run Keycloak locally without Docker: fetch the distribution, start, wait, stop.

kcctl's command line (`python -m kcctl fetch|up|down|status|logs`, see the package).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from kcctl.distribution import ensure_distribution, read_version
from kcctl.errors import KeycloakError
from kcctl.instance import (
    BOOTSTRAP_ADMIN,
    DEFAULT_INSTANCE_DIR,
    LOG_FILE,
    STATE_FILE,
    Instance,
    start,
)
from kcctl.process import is_running, rss_bytes, stop
from kcctl.readiness import is_ready, log_tail, wait_ready

__all__ = ["main", "up_command"]


def _cmd_fetch(args: argparse.Namespace) -> int:
    began = time.monotonic()
    path = ensure_distribution()
    print(f"Keycloak {read_version()} at {path} ({time.monotonic() - began:.1f} s)")
    return 0


def up_command(
    *,
    http_port: int = 8080,
    management_port: int = 9000,
    instance_dir: Path = DEFAULT_INSTANCE_DIR,
    timeout: float = 300,
    out: TextIO = sys.stdout,
) -> Instance:
    """What `kcctl up` does: start (unless already running) and wait until ready.

    Prints what it did, with the start time and resident memory; on failure stops the
    half-started server and raises a KeycloakError.
    """
    instance_dir = Path(instance_dir).resolve()
    if is_running(instance_dir) is not None:
        instance = Instance.load(instance_dir)
        if not is_ready(instance):
            wait_ready(instance, timeout)
        print(f"Keycloak already running (pid {instance.pid}): {instance.issuer}", file=out)
        return instance
    began = time.monotonic()
    instance = start(
        http_port=http_port, management_port=management_port, instance_dir=instance_dir
    )
    print(f"Keycloak starting (pid {instance.pid}), log: {instance.log_file}", file=out)
    out.flush()
    try:
        wait_ready(instance, timeout, out=out)
    except (KeycloakError, KeyboardInterrupt):
        stop(instance_dir)
        raise
    rss = rss_bytes(instance)
    memory = f", RSS {rss / 2**20:.0f} MB" if rss else ""
    print(
        f"Keycloak up in {time.monotonic() - began:.1f} s{memory}: {instance.issuer} "
        f"(admin console {instance.base_url}/admin, {'/'.join(BOOTSTRAP_ADMIN)}, dev only)",
        file=out,
    )
    return instance


def _cmd_up(args: argparse.Namespace) -> int:
    up_command(
        http_port=args.http_port,
        management_port=args.management_port,
        instance_dir=Path(args.instance_dir),
        timeout=args.timeout,
    )
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    stopped = stop(Path(args.instance_dir))
    print("Keycloak stopped" if stopped else "Keycloak was not running")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    instance_dir = Path(args.instance_dir).resolve()
    if is_running(instance_dir) is None:
        print("Keycloak is not running")
        return 3
    instance = Instance.load(instance_dir)
    ready = is_ready(instance)
    rss = rss_bytes(instance)
    memory = f", RSS {rss / 2**20:.0f} MB" if rss else ""
    state = "ready" if ready else "starting (not ready yet)"
    print(f"Keycloak running (pid {instance.pid}), {state}: {instance.issuer}{memory}")
    return 0 if ready else 1


def _cmd_logs(args: argparse.Namespace) -> int:
    instance_dir = Path(args.instance_dir).resolve()
    log = instance_dir / LOG_FILE
    if (instance_dir / STATE_FILE).exists():
        log = Instance.load(instance_dir).log_file
    if not log.exists():
        print(f"no log at {log}", file=sys.stderr)
        return 1
    print(log_tail(log, args.lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kcctl", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch and unpack the pinned Keycloak distribution")

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--instance-dir", default=str(DEFAULT_INSTANCE_DIR))
        return p

    up = with_dir(sub.add_parser("up", help="start Keycloak and wait until it is ready"))
    up.add_argument("--http-port", type=int, default=8080)
    up.add_argument("--management-port", type=int, default=9000)
    # A cold start on a busy 2-core machine has taken 160 s; leave room.
    up.add_argument("--timeout", type=float, default=300)
    with_dir(sub.add_parser("down", help="stop Keycloak"))
    with_dir(sub.add_parser("status", help="exit 0 if ready, 1 if starting, 3 if stopped"))
    logs = with_dir(sub.add_parser("logs", help="print the end of Keycloak's log"))
    logs.add_argument("--lines", type=int, default=80)
    args = parser.parse_args(argv)
    handler = {
        "fetch": _cmd_fetch,
        "up": _cmd_up,
        "down": _cmd_down,
        "status": _cmd_status,
        "logs": _cmd_logs,
    }[args.command]
    try:
        return handler(args)
    except KeycloakError as exc:
        message = str(exc)
        first, _, rest = message.partition("\n")
        if rest:
            print(rest, file=sys.stderr)
        print(f"kcctl {args.command}: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
