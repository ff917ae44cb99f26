"""Timestamps on an app's output: ``python -m portal.hosting.logstamp -- <command>``.

supervisord writes what a program prints as it comes, without times. The runner puts this
small wrapper in front of each app (outside its isolation): it runs the command with its
output on a pipe and prints every line with the UTC time it arrived. supervisord signals
the whole process group on stop, so the app gets its TERM directly; the wrapper ignores
it, waits for the app and exits as it did.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime

__all__ = ["main", "stamp"]


def stamp(line: bytes) -> bytes:
    """``line`` prefixed with the current UTC time to the millisecond."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return now.encode() + b" " + line


def _default_signals() -> None:
    """In the child, before exec: the signals the wrapper ignores act as usual again."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m portal.hosting.logstamp -- COMMAND...", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # the app, in our group, gets them itself
    child = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_default_signals,
    )
    assert child.stdout is not None
    out = sys.stdout.buffer
    for line in iter(child.stdout.readline, b""):
        out.write(stamp(line if line.endswith(b"\n") else line + b"\n"))
        out.flush()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
