"""Run the whole stack for `make up` / `make down` / `make logs` / `make status`.

With a Docker engine it uses docker-compose.yml; without one it runs the Keycloak
distribution on the local Java (keycloak/kcctl.py) and the portal under gunicorn, as
background processes whose pid files and logs live in var/. It says which mode it chose.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORTAL_PID = VAR / "portal.pid"
PORTAL_LOG = VAR / "portal.log"
PORTAL_URL = "http://127.0.0.1:8050"
KEYCLOAK_URL = "http://127.0.0.1:8080"

sys.path.insert(0, str(ROOT / "keycloak"))
import kcctl  # noqa: E402

DEMO_USERS = """\
  user   password         roles of client dash     groups
  admin  admin-password   admin, licensed_user
  alice  alice-password   licensed_user            /sales/east
  bob    bob-password     viewer                   /sales/east
  carol  carol-password   viewer                   /sales/east/managers
  dave   dave-password    viewer
  erin   erin-password    licensed_user            /finance
  frank  frank-password   viewer                   /sales/west"""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _start_portal() -> None:
    if _pid_alive(PORTAL_PID) and _healthy(PORTAL_URL + "/healthz"):
        print(f"portal: already running at {PORTAL_URL}")
        return
    VAR.mkdir(exist_ok=True)
    print("portal: starting gunicorn on 127.0.0.1:8050 (2 workers)")
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    subprocess.run(
        [
            str(gunicorn),
            "--bind=127.0.0.1:8050",
            "--workers=2",
            "--threads=4",
            "--timeout=120",
            "--daemon",
            f"--pid={PORTAL_PID}",
            f"--error-logfile={PORTAL_LOG}",
            f"--access-logfile={VAR / 'portal-access.log'}",
            f"--chdir={ROOT}",
            "portal.wsgi:app",
        ],
        check=True,
    )
    started = time.monotonic()
    while not _healthy(PORTAL_URL + "/healthz"):
        elapsed = time.monotonic() - started
        if elapsed > 180:
            sys.exit(f"portal: not healthy after 180 s; see {PORTAL_LOG}")
        if elapsed > 3 and not _pid_alive(PORTAL_PID):
            tail = PORTAL_LOG.read_text()[-3000:] if PORTAL_LOG.exists() else ""
            sys.exit(f"portal: exited during start-up. Last log lines:\n{tail}")
        time.sleep(1)
    print(f"portal: healthy after {time.monotonic() - started:.0f} s")


def _stop_portal() -> None:
    pid = _pid_alive(PORTAL_PID)
    if pid is None:
        print("portal: not running")
        PORTAL_PID.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if _pid_alive(PORTAL_PID) is None:
            break
        time.sleep(0.1)
    PORTAL_PID.unlink(missing_ok=True)
    print("portal: stopped")


def up() -> None:
    started = time.monotonic()
    if _docker_engine():
        print("mode: docker compose (a Docker engine answered)")
        subprocess.run(["docker", "compose", "up", "-d", "--build", "--wait"], cwd=ROOT, check=True)
    else:
        print("mode: local processes (no Docker engine answered): Keycloak on the local Java")
        try:
            kcctl.up_command(instance_dir=VAR / "keycloak")
        except kcctl.KeycloakError as error:
            sys.exit(f"keycloak: {error}")
        _start_portal()
    print(f"\nUp in {time.monotonic() - started:.0f} s.")
    print(f"  Portal            {PORTAL_URL}/")
    print(f"  Keycloak console  {KEYCLOAK_URL}/admin/master/console/#/dash  (admin / admin)")
    print(f"\nDemo users (dev only):\n{DEMO_USERS}\n\nStop with: make down")


def down() -> None:
    if _docker_engine():
        subprocess.run(["docker", "compose", "down"], cwd=ROOT, check=True)
        return
    _stop_portal()
    kcctl.stop(VAR / "keycloak")


def logs() -> None:
    for path in (VAR / "keycloak" / "keycloak.log", PORTAL_LOG):
        print(f"==> {path} <==")
        print(path.read_text()[-6000:] if path.exists() else "(no log yet)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "logs"])
    command = parser.parse_args().command
    {"up": up, "down": down, "logs": logs}[command]()


if __name__ == "__main__":
    main()
