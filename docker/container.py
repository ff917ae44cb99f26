"""The platform under docker compose: the portal container and the front door's config.

The ``portal`` container runs what the local mode (portal/hosting/local.py) runs, except
nginx, in the same order:

1. supervisord, which runs every app's processes;
2. ``flask --app portal.wsgi db upgrade`` (the schema), then ``flask --app portal.wsgi
   platform start``: registers the demo apps, publishes the app library, restarts the
   active apps, deploys the built-in apps of app/<slug>/ that were never deployed;
3. the portal under gunicorn, in the foreground, on a unix socket.

The ``frontdoor`` service is the official nginx image with docker/frontdoor/nginx.conf:
what portal/hosting/frontdoor.py renders for the container paths below. Commands:

    python docker/container.py start                # the portal container's command
    python docker/container.py healthcheck          # exit 0 when the portal answers /healthz
    python docker/container.py nginx-conf           # rewrite the nginx.conf files
    python docker/container.py nginx-conf --check   # fail when one differs from the render

The ``keycloak`` service, the one Keycloak URL before the two Keycloak nodes, is the same
nginx image with docker/keycloak/nginx.conf, rendered by portal/hosting/keycloak_proxy.py.

Sockets and permissions. Both containers mount two named volumes at the same paths:
``apps-run`` at <apps_dir>/run (the apps' sockets) and ``portal-run`` at <data_dir>/run
(the portal's socket). nginx's workers run as user and group ``nginx`` (101:101 in the
official images); the portal image has a group ``frontdoor`` with that gid and sets
PORTAL_FRONTDOOR_GROUP=frontdoor, so each app's socket folder (0750, the app's uid,
group frontdoor) and the portal's socket folder (0750, root, group frontdoor) let nginx
in and keep the apps (their own uids, no groups) out, as in the local mode.
"""

from __future__ import annotations

import argparse
import grp
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from portal.hosting.frontdoor import FrontDoor
from portal.hosting.keycloak_proxy import KeycloakProxy
from portal.hosting.layout import PlatformLayout
from portal.hosting.programs import PREPARE_STEPS, portal_command
from portal.hosting.runner import http_status_line
from portal.hosting.supervisor import Supervisor
from portal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = Path(__file__).resolve().parent / "frontdoor" / "nginx.conf"
KEYCLOAK_PROXY_CONF = Path(__file__).resolve().parent / "keycloak" / "nginx.conf"
#: The Keycloak nodes of docker-compose.yml, behind its service ``keycloak``.
KEYCLOAK_NODES = ("keycloak-node-1:8080", "keycloak-node-2:8080")

#: The folder nginx keeps its pid, temp files and auth cache in, in the frontdoor image.
FRONTDOOR_ROOT = Path("/var/cache/nginx/frontdoor")
#: The official nginx images' worker user and group (uid and gid 101).
FRONTDOOR_USER = "nginx nginx"
FRONTDOOR_LISTEN = "8050"
MIME_TYPES = Path("/etc/nginx/mime.types")

PORTAL_WORKERS = 2

NGINX_CONF_HEADER = """\
# docker/frontdoor/nginx.conf: the front door of docker-compose.yml. Do not edit: it is
# what portal/hosting/frontdoor.py renders for the container paths, written by
# `python docker/container.py nginx-conf`; tests/test_compose.py fails when they differ.
"""


#: The platform's folders in the containers: docker-compose.yml and the Dockerfile set
#: PORTAL_DATA_DIR and PORTAL_APPS_DIR to these, and nginx.conf is rendered for them.
CONTAINER_LAYOUT = PlatformLayout.of(Path("/data"))


def layout_from_env(env: Mapping[str, str] = os.environ) -> PlatformLayout:
    """The layout the portal in this container uses: its settings' PORTAL_DATA_DIR and
    PORTAL_APPS_DIR, read without filling other defaults (no file is written)."""
    return Settings.read_env(env).layout


def frontdoor(layout: PlatformLayout = CONTAINER_LAYOUT) -> FrontDoor:
    """The front door as the frontdoor service runs it (nginx's master is root there)."""
    return FrontDoor(
        root=FRONTDOOR_ROOT,
        listen=FRONTDOOR_LISTEN,
        portal_socket=layout.portal_socket,
        apps_run_dir=layout.apps_run_dir,
        worker_user=FRONTDOOR_USER,
        master_as_root=True,
        mime_types=MIME_TYPES,
    )


def gunicorn_command(layout: PlatformLayout) -> list[str]:
    """The portal's gunicorn, as the local mode starts it, but in the foreground."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        f"--bind=unix:{layout.portal_socket}",
        f"--workers={PORTAL_WORKERS}",
        "--threads=4",
        "--timeout=120",
        f"--chdir={ROOT}",
        # Its default control socket lives in $HOME, which nothing here needs.
        "--no-control-socket",
        "portal.wsgi:app",
    ]


def say(message: str) -> None:
    print(f"container: {message}", flush=True)


def prepare(layout: PlatformLayout, frontdoor_group: str) -> None:
    """The data folder enterable but not listable; the portal's socket folder for nginx."""
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    layout.data_dir.chmod(0o711)
    layout.run_dir.mkdir(exist_ok=True)
    os.chown(layout.run_dir, -1, grp.getgrnam(frontdoor_group).gr_gid)
    layout.run_dir.chmod(0o750)
    layout.portal_socket.unlink(missing_ok=True)


class Children:
    """The one child running at a time; TERM, INT and HUP are passed on to it."""

    def __init__(self) -> None:
        self.current: subprocess.Popen[bytes] | None = None
        self.stopping = False
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._forward)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            self.stopping = True
        if self.current is not None and self.current.poll() is None:
            self.current.send_signal(signum)

    def run(self, command: list[str]) -> int:
        """Run `command` to its end (not at all once asked to stop); its exit status."""
        if self.stopping:
            return 0
        self.current = subprocess.Popen(command, cwd=ROOT)
        try:
            return self.current.wait()
        finally:
            self.current = None


def start() -> int:
    """Start supervisord, the apps and the portal; return once the portal stopped."""
    settings = Settings.read_env()
    layout = settings.layout
    prepare(layout, settings.frontdoor_group)
    children = Children()
    supervisor = Supervisor(layout.supervisor_dir)
    supervisor.start()
    say("apps: supervisord is running")
    try:
        for step in PREPARE_STEPS:
            code = children.run(portal_command(*step))
            if code != 0:
                say("stopped" if children.stopping else f"flask {' '.join(step)} failed: see above")
                return 0 if children.stopping else code
        if not children.stopping:
            say(f"portal: gunicorn on unix:{layout.portal_socket}")
        code = children.run(gunicorn_command(layout))
        return 0 if children.stopping else code
    finally:
        say("apps: stopping supervisord and the apps")
        supervisor.stop()


def healthcheck() -> int:
    line = http_status_line(layout_from_env().portal_socket, "/healthz", timeout=4) or ""
    return 0 if line.split()[1:2] == ["200"] else 1


def nginx_conf_text() -> str:
    """What docker/frontdoor/nginx.conf must contain."""
    return NGINX_CONF_HEADER + frontdoor().render()


def keycloak_proxy_conf_text() -> str:
    """What docker/keycloak/nginx.conf must contain."""
    header = (
        "# docker/keycloak/nginx.conf: the one Keycloak URL of docker-compose.yml. Do not edit:\n"
        "# `python docker/container.py nginx-conf` writes it; tests/test_compose.py checks it.\n"
    )
    return header + keycloak_proxy().render()


def keycloak_proxy() -> KeycloakProxy:
    """The one Keycloak URL as the keycloak service runs it (the image's own folders)."""
    return KeycloakProxy(
        root=Path("/var/cache/nginx"),
        listen="8080",
        nodes=KEYCLOAK_NODES,
        worker_user=FRONTDOOR_USER,
        master_as_root=True,
    )


def nginx_conf(check: bool) -> int:
    rendered = {NGINX_CONF: nginx_conf_text(), KEYCLOAK_PROXY_CONF: keycloak_proxy_conf_text()}
    stale = [path for path, text in rendered.items() if not _holds(path, text)]
    if check:
        for path in stale:
            print(
                f"{path.relative_to(ROOT)} differs from what portal/hosting/ renders: "
                "run `python docker/container.py nginx-conf`",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _holds(path: Path, text: str) -> bool:
    return path.exists() and path.read_text() == text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("start", help="run the portal container")
    commands.add_parser("healthcheck", help="exit 0 when the portal answers /healthz")
    conf = commands.add_parser("nginx-conf", help="write the nginx.conf files of docker/")
    conf.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start()
    if args.command == "healthcheck":
        return healthcheck()
    return nginx_conf(args.check)


if __name__ == "__main__":
    sys.exit(main())
