"""The platform's own processes as supervisord programs: restarted, logs kept and capped.

The definitions are read back the way supervisord reads them; a real supervisord then
shows that a killed program comes back and that a log is rotated at its cap.
"""

from __future__ import annotations

import configparser
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.hosting.local import LocalPlatform
from portal.hosting.platform_programs import FRONTDOOR, PLATFORM_RETRIES, PORTAL
from portal.hosting.programs import Program, carried_env
from portal.hosting.supervisor import Supervisor
from scripts import stack
from tests.live_stack import free_port


def section(program: Program) -> configparser.SectionProxy:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(program.render())
    return parser[f"program:{program.name}"]


def assert_kept_and_restarted(program: Program, log_dir: Path) -> None:
    conf = section(program)
    assert conf["autostart"] == conf["autorestart"] == "true"
    assert int(conf["startretries"]) == PLATFORM_RETRIES
    # stderr (tracebacks, Python logging, nginx's errors) is kept: with stdout, or apart.
    streams = ["stdout"] if conf["redirect_stderr"] == "true" else ["stdout", "stderr"]
    for stream in streams:
        assert Path(conf[f"{stream}_logfile"]).parent == log_dir
        assert conf[f"{stream}_logfile_maxbytes"] == "10MB"
        assert conf[f"{stream}_logfile_backups"] == "5"
    assert conf["stopasgroup"] == conf["killasgroup"] == "true"


def test_the_portal_is_a_program_that_restarts_and_keeps_its_log(tmp_path: Path) -> None:
    platform = LocalPlatform(data_dir=tmp_path)
    program = platform.portal_program({"KEYCLOAK_URL": "http://127.0.0.1:1"})
    assert program.name == PORTAL
    assert_kept_and_restarted(program, tmp_path / "logs")
    assert program.log_path == platform.layout.portal_log
    # In the foreground (a daemon's output goes to /dev/null), its error log on stderr.
    assert "--daemon" not in program.command
    # Through the launcher that first stops the workers of a master killed outright.
    launcher = ["-m", "portal.hosting.launch", str(platform.layout.portal_master_pid), "--"]
    assert program.command[1:5] == launcher
    assert f"--pid={platform.layout.portal_master_pid}" in program.command
    assert not any(arg.startswith("--error-logfile") for arg in program.command)
    assert 'KEYCLOAK_URL="http://127.0.0.1:1"' in section(program)["environment"]


def test_the_front_door_is_a_program_that_restarts_and_keeps_its_log(tmp_path: Path) -> None:
    platform = LocalPlatform(data_dir=tmp_path)
    program = platform.frontdoor_program()
    assert program.name == FRONTDOOR
    assert_kept_and_restarted(program, tmp_path / "logs")
    assert program.command[-2:] == ["-g", "daemon off;"]
    assert section(program)["stopsignal"] == "QUIT"  # graceful: requests in flight finish
    assert "error_log stderr" in platform.frontdoor.render()
    # Its access log is its stdout, a file of its own; its errors (stderr) another.
    conf = section(program)
    assert conf["redirect_stderr"] == "false"
    assert conf["stdout_logfile"] == str(platform.layout.access_log)
    assert conf["stderr_logfile"] == str(platform.layout.frontdoor_log)
    assert "access_log /dev/stdout platform buffer=32k" in platform.frontdoor.render()


def test_keycloak_under_make_up_is_a_program_that_restarts_and_keeps_its_log(
    tmp_path: Path,
) -> None:
    launch = stack.kcctl.Launch(
        command=[str(tmp_path / "home" / "bin" / "kc.sh"), "start-dev"],
        env={"JAVA": "/usr/bin/java", "BASH_FUNC_x%%": "() { :; }"},
        instance_dir=tmp_path,
        http_port=8080,
        management_port=9000,
        realm="dash",
        log_file=tmp_path / "keycloak.log",
    )
    program = stack.keycloak_program(launch)
    assert_kept_and_restarted(program, tmp_path)
    assert program.env == {"JAVA": "/usr/bin/java"}  # what supervisor cannot carry is left out
    assert int(section(program)["stopwaitsecs"]) >= 30


def test_carried_env_names_what_it_leaves_out() -> None:
    kept, left_out = carried_env({"A": "1", "B": "x ;y", "C D": "2", "E": 'say "hi" twice'})
    assert kept == {"A": "1", "E": 'say "hi" twice'}
    assert left_out == ["B", "C D"]


@pytest.fixture()
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path / "sup")
    sup.start()
    try:
        yield sup
    finally:
        sup.stop()


def _until(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_a_killed_program_comes_back_and_the_log_says_how_it_died(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    program = Program(
        name="sleeper",
        command=[sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"],
        directory=tmp_path,
        log_path=tmp_path / "sleeper.log",
        startsecs=1,
    )
    supervisor.add(program)
    _until(lambda: supervisor.state("sleeper").statename == "RUNNING")
    first = supervisor.state("sleeper").pid
    supervisor.add(program, keep_running=True)  # the same definition: left running
    assert supervisor.state("sleeper").pid == first
    os.kill(first, signal.SIGKILL)
    _until(lambda: supervisor.state("sleeper").pid not in (0, first))
    log = (supervisor.root / "supervisord.log").read_text()
    assert "exited: sleeper (terminated by SIGKILL; not expected)" in log


def test_a_log_is_rotated_at_its_cap(supervisor: Supervisor, tmp_path: Path) -> None:
    # 3 MB of output into a log capped at 1 MB with 2 backups: 3 files, none above the cap.
    writer = "import sys, time; sys.stdout.write(('x' * 1023 + chr(10)) * 3000); time.sleep(600)"
    log = tmp_path / "chatty.log"
    supervisor.add(
        Program(
            name="chatty",
            command=[sys.executable, "-c", writer],
            directory=tmp_path,
            log_path=log,
            startsecs=1,
            log_maxbytes="1MB",
            log_backups=2,
        )
    )
    backups = [log.with_name(f"chatty.log.{n}") for n in (1, 2)]
    _until(lambda: all(path.exists() for path in backups) and log.exists())
    _until(lambda: sum(p.stat().st_size for p in [log, *backups]) >= 2 * 2**20)
    assert not log.with_name("chatty.log.3").exists()
    for path in [log, *backups]:
        assert path.stat().st_size <= 2**20 + 4096


def test_nginx_killed_outright_comes_back_without_its_old_workers(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    """A SIGKILLed master leaves workers holding the port; the next start stops them."""
    platform = LocalPlatform(data_dir=tmp_path / "data", listen=f"127.0.0.1:{free_port()}")
    platform.frontdoor.check()
    supervisor.add(platform.frontdoor_program())
    door = platform.frontdoor
    _until(lambda: supervisor.state(FRONTDOOR).statename == "RUNNING" and door.pid())
    master = door.pid()
    assert master == supervisor.state(FRONTDOOR).pid
    _until(lambda: len(nginx_group(master)) > 1)  # the master and its workers
    os.kill(master, signal.SIGKILL)
    try:
        _until(lambda: door.pid() not in (None, master), timeout=30)
        assert nginx_group(master) == []
    finally:
        for pid in nginx_group(master):  # left over if the launcher failed
            os.kill(pid, signal.SIGKILL)
    assert supervisor.state(FRONTDOOR).pid == door.pid()
    assert (
        "stopped workers left by a killed nginx master" in platform.layout.frontdoor_log.read_text()
    )


def nginx_group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found
