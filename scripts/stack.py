"""Run the whole stack for `make up` / `make down` / `make logs` / `make status`.

With a Docker engine it uses docker-compose.yml; without one it runs the Keycloak
distribution on the local Java (keycloak/kcctl.py), and the platform as local processes
(portal.hosting.local: supervisord with the apps, the portal under gunicorn, nginx as the
front door), whose pid files and logs live in var/. It says which mode it chose.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORTAL_URL = "http://127.0.0.1:8050"
KEYCLOAK_URL = "http://127.0.0.1:8080"

sys.path.insert(0, str(ROOT / "keycloak"))
import kcctl  # noqa: E402

from portal.hosting.frontdoor import FrontDoorError  # noqa: E402
from portal.hosting.local import LocalPlatform, PlatformStartError  # noqa: E402

DEMO_USERS = """\
  user   password         roles of client dash     groups
  admin  admin-password   admin, licensed_user
  alice  alice-password   licensed_user            /sales/east
  bob    bob-password     viewer                   /sales/east
  carol  carol-password   viewer                   /sales/east/managers
  dave   dave-password    viewer
  erin   erin-password    licensed_user            /finance
  frank  frank-password   viewer                   /sales/west"""


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def _platform() -> LocalPlatform:
    return LocalPlatform(data_dir=VAR, listen="127.0.0.1:8050")


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
        (VAR / "keycloak").chmod(0o700)  # its database: no app may read it
        try:
            _platform().start()
        except (PlatformStartError, FrontDoorError, OSError) as error:
            sys.exit(f"platform: {error}")
    print(f"\nUp in {time.monotonic() - started:.0f} s.")
    print(f"  Portal            {PORTAL_URL}/")
    print(f"  Keycloak console  {KEYCLOAK_URL}/admin/master/console/#/dash  (admin / admin)")
    print(f"\nDemo users (dev only):\n{DEMO_USERS}\n\nStop with: make down")


def down() -> None:
    if _docker_engine():
        subprocess.run(["docker", "compose", "down"], cwd=ROOT, check=True)
        return
    _platform().stop()
    print("portal, front door and apps: stopped")
    kcctl.stop(VAR / "keycloak")


def logs() -> None:
    platform = _platform()
    logs = [VAR / "keycloak" / "keycloak.log", platform.portal_log, platform.frontdoor.error_log]
    logs += sorted((platform.apps_dir / "logs").glob("*/app.log"))
    for path in logs:
        print(f"==> {path} <==")
        print(path.read_text()[-6000:] if path.exists() else "(no log yet)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "logs"])
    command = parser.parse_args().command
    {"up": up, "down": down, "logs": logs}[command]()


if __name__ == "__main__":
    main()
