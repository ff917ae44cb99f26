"""LocalRunner with the real parts: uv-built gunicorn, supervisord, setpriv and bubblewrap.

One supervisord for the module, in a folder under /tmp that other uids can traverse (the
apps run as their own uids when the tests run as root).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.hosting.builds import EnvironmentBuilder, default_python
from portal.hosting.isolation import Isolation, app_uid
from portal.hosting.runner import LocalRunner, ProcessSpec, StartError, http_status_line
from portal.hosting.supervisor import Supervisor, SupervisorError

AS_ROOT = os.geteuid() == 0
MARKER = "HOSTING_TEST_MARKER_LEAK"
FRONTDOOR_GID = 33  # www-data on Debian: the group nginx workers would run as

PROBE_APP = """
import json, os, time, urllib.parse

def probe(op, path):
    try:
        if op == "read":
            open(path).read()
        elif op == "list":
            os.listdir(path)
        elif op == "write":
            with open(path, "w") as fh:
                fh.write("x")
        return {"ok": True, "exists": os.path.exists(path)}
    except OSError as exc:
        return {"ok": False, "error": type(exc).__name__, "exists": os.path.exists(path)}

def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    if path.endswith("/crash"):
        os._exit(1)
    if path.endswith("/sleep"):
        time.sleep(float(query["seconds"]))
    if path.endswith("/env"):
        body = dict(os.environ)
    elif path.endswith("/whoami"):
        body = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    elif path.endswith("/probe"):
        body = probe(query["op"], query["path"])
    else:
        body = "hello"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
"""


def get(spec: ProcessSpec, route: str = "", **query: str) -> tuple[int, object]:
    """GET url_prefix+route over the app's socket; (status, decoded JSON body)."""
    import socket

    target = spec.url_prefix + route + ("?" + urllib.parse.urlencode(query) if query else "")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(spec.socket_path))
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: t\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def app_processes(marker: str) -> list[int]:
    """Pids whose command line mentions `marker` (a path of this test's apps dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="module")
def apps_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hosting-runner-", dir="/tmp"))
    os.chmod(root, 0o711)  # noqa: S103 - app uids traverse it, as they would apps_dir
    apps = root / "apps"
    for sub in ("bundles", "data", "envs", "run", "logs"):
        (apps / sub).mkdir(parents=True)
    secret = root / "secret.txt"
    secret.write_text("platform secret")
    os.chmod(secret, 0o600)
    yield apps
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def venv(apps_dir: Path) -> Path:
    builder = EnvironmentBuilder(
        apps_dir / "envs",
        uv=str(Path(sys.executable).parent / "uv"),
        python=default_python(),
        platform_requirements=[],
    )
    return builder.ensure("gunicorn==27.0.1\n", io.StringIO())


@pytest.fixture(scope="module")
def supervisor(apps_dir: Path) -> Iterator[Supervisor]:
    os.environ[MARKER] = "leaked"
    sup = Supervisor(apps_dir / "supervisor")
    try:
        sup.start()
        yield sup
    finally:
        os.environ.pop(MARKER, None)
        sup.stop()


@pytest.fixture(scope="module")
def runner(supervisor: Supervisor) -> LocalRunner:
    return LocalRunner(supervisor, Isolation.detect(), frontdoor_gid=FRONTDOOR_GID, start_retries=1)


def deploy(
    runner: LocalRunner,
    apps_dir: Path,
    venv: Path,
    slug: str,
    app_id: int,
    *,
    source: str = PROBE_APP,
    env: dict[str, str] | None = None,
) -> ProcessSpec:
    """Unpack-like layout for one app version, started and (unless it fails) ready."""
    bundle = apps_dir / "bundles" / slug / "1"
    bundle.mkdir(parents=True)
    (bundle / "app.py").write_text(textwrap.dedent(source))
    (bundle / "requirements.txt").write_text("gunicorn==27.0.1\n")
    spec = ProcessSpec(
        name=f"{slug}-1",
        slug=slug,
        bundle_dir=bundle,
        venv_dir=venv,
        data_dir=apps_dir / "data" / slug,
        run_dir=apps_dir / "run" / slug,
        socket_path=apps_dir / "run" / slug / "1.sock",
        log_path=apps_dir / "logs" / slug / "app.log",
        wsgi_target="app:application",
        env=env or {},
        uid=app_uid(app_id) if AS_ROOT else None,
    )
    runner.start(spec)
    runner.wait_ready(spec, timeout=30)
    return spec


@pytest.fixture(scope="module")
def demo(runner: LocalRunner, apps_dir: Path, venv: Path) -> ProcessSpec:
    env = {"DASH_APP_SLUG": "demo", "GREETING": 'say "hi", 100% sure'}
    return deploy(runner, apps_dir, venv, "demo", 1, env=env)


def test_serves_over_its_socket(runner: LocalRunner, demo: ProcessSpec) -> None:
    assert get(demo) == (200, "hello")
    assert http_status_line(demo.socket_path, demo.url_prefix) == "HTTP/1.0 200 OK"
    assert runner.state(demo.name).statename in {"STARTING", "RUNNING"}


def test_a_dead_worker_is_replaced(runner: LocalRunner, demo: ProcessSpec) -> None:
    master = runner.state(demo.name).pid
    with pytest.raises((ValueError, IndexError, OSError)):
        get(demo, "crash")  # the worker exits mid-request: no answer
    for _ in range(6):
        assert get(demo) == (200, "hello")
    assert runner.state(demo.name).pid == master
    deadline = time.monotonic() + 10
    while demo.log_path.read_text().count("Booting worker") < 3:  # gunicorn replaced it
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "exited with code 1" in demo.log_path.read_text()


def test_restart_brings_up_a_new_master(runner: LocalRunner, demo: ProcessSpec) -> None:
    before = runner.state(demo.name).pid
    runner.supervisor.restart(demo.name)
    runner.wait_ready(demo, timeout=30)
    assert runner.state(demo.name).pid not in (0, before)
    assert get(demo) == (200, "hello")


def test_environment_is_only_what_the_spec_gives(demo: ProcessSpec) -> None:
    _, env = get(demo, "env")
    assert isinstance(env, dict)
    assert MARKER not in env
    assert env["GREETING"] == 'say "hi", 100% sure'
    assert env["DASH_APP_SLUG"] == "demo"
    assert env["HOME"] == str(demo.data_dir)
    assert env["PATH"].startswith(f"{demo.venv_dir}/bin:")
    platform = {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONUNBUFFERED", "DASH_APP_SLUG", "GREETING"}
    extra = {k for k in env if k not in platform and not k.startswith("SUPERVISOR_")}
    assert extra <= {"SERVER_SOFTWARE", "PWD"}, extra  # set by gunicorn and bwrap


def test_import_error_is_a_start_error(runner: LocalRunner, apps_dir: Path, venv: Path) -> None:
    # (gunicorn prints only the message of a RuntimeError, so use another exception.)
    broken = "import json\njson.loads('{not json')\n"
    started = time.monotonic()
    with pytest.raises(StartError) as caught:
        deploy(runner, apps_dir, venv, "broken", 3, source=broken)
    assert "json.decoder.JSONDecodeError: Expecting property name" in str(caught.value)
    assert 'bundles/broken/1/app.py", line 2, in <module>' in str(caught.value)
    assert time.monotonic() - started < 20
    runner.stop("broken-1")
    assert runner.state("broken-1").statename == "ABSENT"


@pytest.mark.skipif(not AS_ROOT, reason="a uid per app needs root")
def test_runs_as_its_own_user(demo: ProcessSpec, apps_dir: Path) -> None:
    _, who = get(demo, "whoami")
    assert who == {"uid": app_uid(1), "gid": app_uid(1), "groups": []}
    run = demo.run_dir.stat()
    assert (run.st_uid, run.st_gid, run.st_mode & 0o777) == (app_uid(1), FRONTDOOR_GID, 0o750)
    bundle = demo.bundle_dir.stat()
    assert (bundle.st_uid, bundle.st_gid, bundle.st_mode & 0o777) == (0, app_uid(1), 0o750)
    assert (demo.data_dir.stat().st_uid, demo.data_dir.stat().st_mode & 0o777) == (
        app_uid(1),
        0o700,
    )
    # The bundle is readable but not writable, the data dir is writable.
    assert get(demo, "probe", op="write", path=str(demo.bundle_dir / "x"))[1]["ok"] is False
    assert get(demo, "probe", op="write", path=str(demo.data_dir / "x"))[1]["ok"] is True


@pytest.mark.skipif(not AS_ROOT, reason="a uid per app needs root")
def test_uid_alone_keeps_apps_apart(
    supervisor: Supervisor, apps_dir: Path, venv: Path, demo: ProcessSpec
) -> None:
    plain = LocalRunner(supervisor, Isolation(per_app_uid=True, sandbox=False), frontdoor_gid=None)
    other = deploy(plain, apps_dir, venv, "other", 2)
    secret = apps_dir.parent / "secret.txt"
    assert get(other, "whoami")[1]["uid"] == app_uid(2)
    assert get(other, "probe", op="read", path=str(secret))[1] == {
        "ok": False,
        "error": "PermissionError",
        "exists": True,
    }
    denied = get(other, "probe", op="list", path=str(demo.bundle_dir))[1]
    assert denied["error"] == "PermissionError"
    denied = get(other, "probe", op="list", path=str(demo.data_dir))[1]
    assert denied["error"] == "PermissionError"
    plain.stop(other.name)


@pytest.mark.skipif(not Isolation.detect().sandbox, reason="bubblewrap does not work here")
def test_the_sandbox_hides_the_host(demo: ProcessSpec, apps_dir: Path) -> None:
    for hidden in ("/work", "/root", str(apps_dir.parent / "secret.txt"), "/etc/shadow"):
        assert get(demo, "probe", op="list", path=hidden)[1]["exists"] is False, hidden
    other_bundle = apps_dir / "bundles" / "other"
    assert get(demo, "probe", op="list", path=str(other_bundle))[1]["exists"] is False
    scratch = f"/tmp/hosting-test-{os.getpid()}-{time.monotonic_ns()}"
    assert get(demo, "probe", op="write", path=scratch)[1]["ok"] is True
    assert not Path(scratch).exists()  # its /tmp is its own
    assert get(demo, "probe", op="write", path="/usr/x")[1]["ok"] is False


def test_values_supervisor_would_misread_are_refused(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    good = {"command": ["true"], "directory": tmp_path, "log_path": tmp_path / "log"}
    for env in ({"A": "x ;y"}, {"A": '"quoted"'}, {"A": "a\nb"}, {"A B": "x"}, {"A": "%(here)s"}):
        with pytest.raises(SupervisorError):
            supervisor.add_program("refused", env=env, **good)
    with pytest.raises(SupervisorError):
        supervisor.add_program("refused", env={}, **{**good, "command": ["echo", "a #b"]})
    with pytest.raises(SupervisorError, match="bad program name"):
        supervisor.add_program("../x", env={}, **good)
    assert not (supervisor.programs / "refused.conf").exists()
    assert supervisor.state("refused").statename == "ABSENT"


def test_an_unpassable_variable_is_a_start_error(
    runner: LocalRunner, demo: ProcessSpec, apps_dir: Path
) -> None:
    bundle = apps_dir / "bundles" / "demo" / "2"
    bundle.mkdir()
    spec = dataclasses.replace(demo, name="demo-2", bundle_dir=bundle, env={"NOTE": "a #b"})
    with pytest.raises(StartError, match="demo-2 could not be started"):
        runner.start(spec)
    assert runner.state("demo-2").statename == "ABSENT"


def test_isolation_described_in_plain_words() -> None:
    texts = {
        Isolation(per_app_uid=u, sandbox=s).describe() for u in (True, False) for s in (True, False)
    }
    assert len(texts) == 4
    assert (
        Isolation(per_app_uid=False, sandbox=False)
        .describe()
        .startswith("Apps run as the same user as the platform")
    )
    detected = Isolation.detect()
    assert detected.per_app_uid == AS_ROOT
    assert Isolation.detect(sandbox=False).sandbox is False


def test_stop_removes_the_program_and_socket(
    runner: LocalRunner, apps_dir: Path, venv: Path
) -> None:
    spec = deploy(runner, apps_dir, venv, "short", 4)
    assert app_processes(str(spec.socket_path))
    answers: list[object] = []
    slow = threading.Thread(target=lambda: answers.append(get(spec, "sleep", seconds="1")))
    slow.start()
    time.sleep(0.3)
    runner.stop(spec.name)  # graceful: the request in flight is answered
    slow.join()
    assert answers == [(200, "hello")]
    assert runner.state(spec.name).statename == "ABSENT"
    assert not spec.socket_path.exists()
    assert not (runner.supervisor.programs / f"{spec.name}.conf").exists()
    assert not app_processes(str(spec.socket_path))
    runner.stop(spec.name)  # idempotent


def test_supervisor_stop_leaves_no_app_process(
    supervisor: Supervisor, demo: ProcessSpec, apps_dir: Path
) -> None:
    assert app_processes(str(apps_dir))
    supervisor.stop()
    assert not supervisor.running()
    assert not app_processes(str(apps_dir))
    assert http_status_line(demo.socket_path, demo.url_prefix) is None
