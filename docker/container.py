"""The platform under docker compose: the apps and portal containers, the front door's config.

The local mode (portal/hosting/local.py) runs everything under one supervisord. Compose
splits it, so the portal can run as several replicas (``deploy: replicas``) that share one
set of apps:

* ``apps`` (one container): supervisord, which runs every app's processes; then
  ``flask --app portal.wsgi db upgrade`` (the schema) and ``flask --app portal.wsgi
  platform start`` (registers the demo apps, publishes the app library, restarts the
  active apps, deploys the built-in apps of app/<slug>/ that were never deployed); then it
  waits, keeping supervisord and the apps running, until it is stopped.
* ``portal`` (each replica): the portal under gunicorn, in the foreground, on TCP port
  8000 of the compose network. Its deployments and app operations talk to the apps
  container's supervisord through its socket on the shared data volume, and build into
  the same folders, at the same paths.

Why TCP: replicas of one compose service mount the same volumes at the same paths, so
one socket path would be taken by each replica in turn. The front door names the service
(``portal:8000``) and re-resolves it (nginx's ``resolve``), so it reaches every replica,
also after one is recreated with a new address. The ``frontdoor`` service is the official
nginx image with docker/frontdoor/nginx.conf: what portal/hosting/frontdoor.py renders for
the container paths below. Commands:

    python docker/container.py apps                 # the apps container's command
    python docker/container.py portal               # a portal replica's command
    python docker/container.py healthcheck [--apps] # exit 0 when the portal (the apps) is up
    python docker/container.py nginx-conf           # rewrite the nginx.conf files
    python docker/container.py nginx-conf --check   # fail when one differs from the render

The ``keycloak`` service, the one Keycloak URL before the two Keycloak nodes, is the same
nginx image with docker/keycloak/nginx.conf, rendered by portal/hosting/keycloak_proxy.py.

Sockets and permissions. The apps and frontdoor containers mount the named volume
``apps-run`` at <apps_dir>/run (the apps' sockets). nginx's workers run as user and group
``nginx`` (101:101 in the official images); the image has a group ``frontdoor`` with that
gid and sets PORTAL_FRONTDOOR_GROUP=frontdoor, so each app's socket folder (0750, the
app's uid, group frontdoor) lets nginx in and keeps the apps (their own uids, no groups)
out, as in the local mode. The apps container is on no network with the portal replicas:
an app reaches the platform only through the front door.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from portal.hosting.frontdoor import FrontDoor
from portal.hosting.keycloak_proxy import KeycloakProxy
from portal.hosting.layout import PlatformLayout
from portal.hosting.programs import PREPARE_STEPS, portal_command
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
#: Where each portal replica listens in the compose network (no published port).
PORTAL_PORT = 8000
#: The front door's upstream: the portal service's name, resolved again and again by
#: Docker's DNS (every replica's address), so replicas may come and go.
PORTAL_UPSTREAM = f"portal:{PORTAL_PORT} resolve"
DOCKER_DNS = "127.0.0.11"
#: Written by ``apps`` once the apps run (its health check); in the container's own files.
APPS_READY = Path("/run/dash-platform-apps.ready")

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
        portal_servers=(PORTAL_UPSTREAM,),
        apps_run_dir=layout.apps_run_dir,
        worker_user=FRONTDOOR_USER,
        master_as_root=True,
        mime_types=MIME_TYPES,
        resolver=DOCKER_DNS,
    )


def gunicorn_command() -> list[str]:
    """The portal's gunicorn, as the local mode starts it, but in the foreground on TCP."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        f"--bind=0.0.0.0:{PORTAL_PORT}",
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


def prepare(layout: PlatformLayout) -> None:
    """The data folder enterable (apps live below it) but not listable."""
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    layout.data_dir.chmod(0o711)


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


def apps(poll: float = 5) -> int:
    """Start supervisord and the apps; return once stopped (or supervisord is gone)."""
    APPS_READY.unlink(missing_ok=True)
    layout = Settings.read_env().layout
    prepare(layout)
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
        APPS_READY.touch()
        say("apps: running; the portal replicas may start")
        while not children.stopping and supervisor.running():
            time.sleep(poll)
        return 0 if children.stopping else 1
    finally:
        APPS_READY.unlink(missing_ok=True)
        say("apps: stopping supervisord and the apps")
        supervisor.stop()


def portal() -> int:
    """One portal replica: gunicorn in the foreground until it is stopped."""
    children = Children()
    say(f"portal: gunicorn on port {PORTAL_PORT}")
    code = children.run(gunicorn_command())
    return 0 if children.stopping else code


def healthcheck(apps_side: bool = False) -> int:
    """0 when this container's part is up: the apps prepared and supervisord running, or
    the portal answering /healthz."""
    if apps_side:
        layout = layout_from_env()
        return 0 if APPS_READY.exists() and Supervisor(layout.supervisor_dir).running() else 1
    url = f"http://127.0.0.1:{PORTAL_PORT}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            return 0 if answer.status == 200 else 1
    except OSError:
        return 1


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
    commands.add_parser("apps", help="run the apps container: supervisord and the apps")
    commands.add_parser("portal", help="run a portal replica: gunicorn on TCP")
    health = commands.add_parser("healthcheck", help="exit 0 when the portal answers /healthz")
    health.add_argument("--apps", action="store_true", help="check the apps container instead")
    conf = commands.add_parser("nginx-conf", help="write the nginx.conf files of docker/")
    conf.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    if args.command == "apps":
        return apps()
    if args.command == "portal":
        return portal()
    if args.command == "healthcheck":
        return healthcheck(args.apps)
    return nginx_conf(args.check)


if __name__ == "__main__":
    sys.exit(main())
