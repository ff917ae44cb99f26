"""Every line an app prints gets the time it arrived; the app's exit and signals are kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

WRAPPER = [sys.executable, "-m", "portal.hosting.logstamp", "--"]
STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def test_lines_are_stamped_and_the_exit_status_kept() -> None:
    code = "import sys; print('out'); sys.stderr.write('err\\nno newline'); sys.exit(3)"
    done = subprocess.run([*WRAPPER, sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 3
    lines = done.stdout.splitlines(keepends=True)
    assert [line[25:] for line in lines] == [b"out\n", b"err\n", b"no newline\n"]
    assert all(STAMP.match(line) for line in lines)


def test_a_stop_of_the_group_reaches_the_app_and_the_wrapper_follows_it() -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('graceful', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    wrapper = subprocess.Popen(
        [*WRAPPER, sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert wrapper.stdout is not None
    assert wrapper.stdout.readline().endswith(b"ready\n")
    started = time.monotonic()
    os.killpg(wrapper.pid, signal.SIGTERM)  # what supervisord does (stopasgroup)
    assert wrapper.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert wrapper.stdout.read().endswith(b"graceful\n")
