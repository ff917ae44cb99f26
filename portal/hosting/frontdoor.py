"""The front door: nginx on one listener, deciding every app request through the portal.

nginx's ``auth_request`` asks the portal (``/_frontdoor/auth``) about every request under
/apps/<slug>/ before it reaches the app: the pattern of oauth2-proxy and ingress-nginx's
``auth-url``. A yes may be cached for one second per session, app and kind of request, so
a sign-out or a revoked grant takes effect within that second. After a yes, nginx sets the
identity headers the portal answered with (overwriting any copy the client sent), drops
the portal's session cookie and any bearer token, and proxies to the app's unix socket.
A refusal is handed back to the portal, which renders it (401 JSON, a redirect to
/login, 403, 404). Everything that is not an app goes to the portal.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .memwatch import process_children

__all__ = ["ROUTES", "FrontDoor", "FrontDoorError", "Routes", "find_nginx"]

#: The portal's session cookie: an app never sees it (it would let the app act as the user).
SESSION_COOKIE = "dash_portal_session"

#: Requests to the portal and to apps: at most this body (the deployment API allows more).
BODY_LIMIT = "2m"
BUNDLE_LIMIT = "60m"


#: The folder (in the apps' run folder, which the front door shares) of per-app upstreams.
ROUTES = ".routes"

_ROUTE = """# Written by the portal (portal/hosting/frontdoor.py): where app {slug} listens.
upstream app_{slug} {{
  # The active deployment's socket (a symlink the portal moves). One server, never
  # marked down: a refused connection is the app restarting, not a bad peer.
  server unix:{socket} max_fails=0;
  keepalive 32;
  # Shorter than gunicorn's own keep-alive (2 s), so nginx never reuses a connection the
  # app has just closed; and no connection lives past 1 s, so within a second of a new
  # version taking over (the symlink moved) every request goes to it, before the old one
  # stops (it drains for 2 s).
  keepalive_timeout 1s;
  keepalive_time 1s;
}}
"""


@dataclass(frozen=True)
class Routes:
    """The front door's per-app upstreams, kept by the portal: connections to an app are
    reused (keep-alive), which a per-request socket path would not allow."""

    apps_run_dir: Path
    #: nginx's pid file, when the portal may signal it (local mode); otherwise the front
    #: door notices a changed route itself (compose: docker/frontdoor/run.sh).
    pid_path: Path | None = None

    @property
    def folder(self) -> Path:
        return self.apps_run_dir / ROUTES

    def publish(self, slug: str) -> None:
        """Route ``slug`` to its socket; nginx re-reads its routes when this one is new.

        A new version of an app needs no reload: the route names the ``app.sock`` symlink,
        and upstream connections live at most a second.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{slug}.conf"
        text = _ROUTE.format(slug=slug, socket=self.apps_run_dir / slug / "app.sock")
        if path.exists() and path.read_text() == text:
            return
        staged = path.with_suffix(".tmp")
        staged.write_text(text)
        os.replace(staged, path)
        self.reload()

    def withdraw(self, slug: str) -> None:
        """Forget ``slug``'s route (a deleted app)."""
        (self.folder / f"{slug}.conf").unlink(missing_ok=True)
        self.reload()

    def reload(self, timeout: float = 5) -> None:
        """Have nginx re-read its configuration; return once workers that know it run.

        A reload is asynchronous: until the new workers are up, a request for a new app
        meets an old worker, which has no upstream for it.
        """
        if self.pid_path is None:
            return
        try:
            pid = int(self.pid_path.read_text().strip())
            before = _children_of(pid)
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError):
            return  # not running (yet): it reads the routes when it starts
        deadline = time.monotonic() + timeout
        while not (_children_of(pid) - before) and time.monotonic() < deadline:
            time.sleep(0.02)


def nginx_command(root: Path, config: Path) -> list[str]:
    """nginx run from ``root`` with ``config``; FrontDoorError when nginx is missing."""
    nginx = find_nginx()
    if nginx is None:
        raise FrontDoorError(
            "nginx is not installed: run `make up` (it installs it) or "
            "`sudo apt-get install nginx` / `brew install nginx`."
        )
    return [nginx, "-p", str(root), "-c", str(config)]


def foreground_command(nginx: list[str], pid_path: Path) -> list[str]:
    """``nginx`` in the foreground with its log on stderr: for a supervisor to run.

    Through :mod:`portal.hosting.launch`, which first stops any workers a killed master
    left holding the listener. nginx still writes its pid file (``pid_path``).
    """
    foreground = [*nginx, "-e", "stderr", "-g", "daemon off;"]
    return [sys.executable, "-m", "portal.hosting.launch", str(pid_path), "--", *foreground]


def check_config(nginx: list[str], what: str) -> None:
    """Have nginx check its configuration; FrontDoorError with nginx's words if refused."""
    checked = subprocess.run([*nginx, "-t", "-q"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise FrontDoorError(f"nginx refused {what}:\n{checked.stderr.strip()}")


def user_line(worker_user: str, master_as_root: bool | None) -> str:
    """``user <worker_user>;`` when nginx's master starts as root (None: when we are root)."""
    as_root = os.geteuid() == 0 if master_as_root is None else master_as_root
    return f"user {worker_user};" if as_root else ""


class FrontDoorError(RuntimeError):
    """nginx is missing, refused its configuration or did not start."""


def find_nginx() -> str | None:
    """The nginx binary on PATH or in the usual sbin folders."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


_PROXY_HEADERS = """
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;"""

_TEMPLATE = """# Written by portal/hosting/frontdoor.py; changes are overwritten at the next start.
{user_line}
worker_processes {workers};
pid {root}/nginx.pid;
# To stderr: its supervisor keeps it (rotated, capped), as docker keeps a container's.
error_log stderr warn;
events {{ worker_connections 2048; }}

http {{
  # One line per request, to stdout (its supervisor keeps and rotates it), written in 32 KB
  # batches. The path only: a query string may carry a sign-in code; no cookie, no token.
  log_format platform '$remote_addr [$time_iso8601] "$request_method $uri $server_protocol" '
                      '$status $body_bytes_sent $request_time "$http_user_agent"';
  access_log /dev/stdout platform buffer=32k flush=1s;
  server_tokens off;
  include {mime_types};
  default_type application/octet-stream;
  client_body_temp_path {root}/tmp/body;
  proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
  proxy_cache_path {root}/auth-cache levels=1:2 keys_zone=platform_auth:10m max_size=64m
                   inactive=10s use_temp_path=off;
  client_max_body_size {body_limit};
  # Each /login costs the portal a request: one client starts at most 20 sign-ins a
  # second, the next 40 wait their turn, any more get 429. A flood from one address then
  # costs the portal almost nothing, and signed-in users keep their speed (bench/).
  limit_req_zone $binary_remote_addr zone=sign_in:1m rate=20r/s;
  limit_req_status 429;
{resolver_line}
  # Every portal process. A request that cannot reach one (connection refused or reset,
  # a timeout) goes to the next, but a POST, PATCH or LOCK that was sent to one is never
  # sent again (it may have taken effect): nginx's rule for these methods, which
  # non_idempotent would lift. With two or more, one that failed rests for 10 s.
  proxy_next_upstream error timeout;
  upstream portal {{{portal_servers}
    keepalive 32;
  }}
  # One upstream per app (app_<slug>), written by the portal when an app first serves.
  include {apps_run}/{routes}/*.conf;

  # The cookies an app receives: all but the portal's session cookie.
  map $http_cookie $app_cookie {{
    "~^(?<before>.*?)(?:; ?)?{cookie}=[^;]*(?<after>.*)$" "$before$after";
    default $http_cookie;
  }}
  # A browser opening an app page: decided afresh (never from the cache) and counted.
  map "$request_method:$http_accept" $page_load {{
    "~^GET:.*text/html" 1;
    default 0;
  }}
  # An app's own Referrer-Policy and caching stand; without them, the platform's
  # (an empty value adds no header). App answers carry the viewer's data: no-store.
  map $upstream_http_referrer_policy $app_referrer_policy {{
    "" same-origin;
    default "";
  }}
  map $upstream_http_cache_control $app_cache_control {{
    "" no-store;
    default "";
  }}

  server {{
    listen {listen};

    location = /_frontdoor/auth {{
      internal;
      proxy_pass http://portal/_frontdoor/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";{proxy_headers}
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-Content-Type $content_type;
      proxy_set_header X-Page-Load $page_load;
      proxy_cache platform_auth;
      proxy_cache_key "$app_slug|$request_method|$content_type|$cookie_{cookie}|$http_x_csrf_token";
      proxy_cache_valid 200 1s;
      proxy_cache_bypass $page_load;
      proxy_no_cache $page_load;
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
    }}

    location ^~ /_frontdoor/ {{
      return 404;
    }}

    location ~ "^/apps/(?<app_slug>[a-z0-9][a-z0-9_-]{{0,63}})/" {{
      auth_request /_frontdoor/auth;
      auth_request_set $platform_user_data $upstream_http_x_platform_user_data;
      auth_request_set $platform_credentials $upstream_http_x_platform_credentials;
      # auth_request turns any answer but 2xx/401/403 (the portal's 503 while its database
      # restarts) into a 500 of its own: the portal is asked again and answers for itself.
      error_page 401 403 500 = @refused;
      error_page 502 504 = @unavailable;{proxy_headers}
      proxy_set_header Plotly-User-Data $platform_user_data;
      proxy_set_header RStudio-Connect-Credentials $platform_credentials;
      proxy_set_header Cookie $app_cookie;
      proxy_set_header Authorization "";
      proxy_set_header X-CSRF-Token "";
      proxy_set_header Accept-Encoding "";
      proxy_read_timeout 300s;
      sub_filter "</body>" "<script src=\\"/static/session-watch.js\\"></script></body>";
      sub_filter_once on;
      # Apps choose their own policies, but only the platform may frame them and no
      # answer may be sniffed into another type: these replace the app's own copies.
      proxy_hide_header X-Frame-Options;
      proxy_hide_header X-Content-Type-Options;
      add_header Content-Security-Policy "frame-ancestors 'self'" always;
      add_header X-Frame-Options SAMEORIGIN always;
      add_header X-Content-Type-Options nosniff always;
      add_header Referrer-Policy $app_referrer_policy always;
      add_header Cache-Control $app_cache_control always;
      proxy_pass http://app_$app_slug;
    }}

    location @refused {{{proxy_headers}
      proxy_set_header X-Frontdoor-Refused 1;
      proxy_pass http://portal;
    }}

    location @unavailable {{{proxy_headers}
      proxy_set_header X-Frontdoor-Unavailable 1;
      # Whether the request reached the app before it failed (bytes sent, per attempt):
      # one that did must not be sent again (it may be what made the app crash).
      proxy_set_header X-Frontdoor-Upstream-Sent $upstream_bytes_sent;
      proxy_pass http://portal;
    }}

    location ~ "^/api/apps/[^/]+/deployments$" {{
      client_max_body_size {bundle_limit};{proxy_headers}
      proxy_pass http://portal;
    }}

    location = /login {{
      limit_req zone=sign_in burst=40;{proxy_headers}
      proxy_pass http://portal;
    }}

    location / {{{proxy_headers}
      proxy_pass http://portal;
    }}
  }}
}}
"""


@dataclass(frozen=True)
class FrontDoor:
    """One nginx instance: its folder, its listener, where the portal and apps listen."""

    root: Path
    listen: str
    #: The portal processes as nginx upstream servers: ``unix:<socket>`` in the local mode,
    #: ``<name>:<port> resolve`` for a name whose addresses change (compose replicas).
    portal_servers: tuple[str, ...]
    apps_run_dir: Path
    #: The user:group nginx's workers run as when started by root (they enter app sockets).
    worker_user: str = "nobody nogroup"
    workers: int = 2
    #: Whether nginx's master starts as root, so the config names `worker_user`.
    #: None: when this process is root (it starts nginx). docker/ sets it for another host.
    master_as_root: bool | None = None
    #: nginx's mime.types; None: the one of the nginx found here.
    mime_types: Path | None = None
    #: The DNS server that re-resolves ``resolve`` servers (Docker's is 127.0.0.11).
    resolver: str | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pid_path(self) -> Path:
        return self.root / "nginx.pid"

    def render(self) -> str:
        """The nginx configuration, as text."""
        mime_types = self.mime_types or _mime_types(Path(find_nginx() or "/usr/sbin/nginx"))
        return _TEMPLATE.format(
            user_line=user_line(self.worker_user, self.master_as_root),
            workers=self.workers,
            root=self.root,
            mime_types=mime_types,
            body_limit=BODY_LIMIT,
            bundle_limit=BUNDLE_LIMIT,
            portal_servers=self._portal_servers(),
            resolver_line=f"  resolver {self.resolver} valid=5s;\n" if self.resolver else "",
            cookie=SESSION_COOKIE,
            listen=self.listen,
            proxy_headers=_PROXY_HEADERS,
            apps_run=self.apps_run_dir,
            routes=ROUTES,
        )

    def _portal_servers(self) -> str:
        """The portal upstream's lines (shared memory, which ``resolve`` needs, with a
        resolver)."""
        lines = ["    zone portal 64k;"] if self.resolver else []
        lines += [f"    server {server};" for server in self.portal_servers]
        return "".join(f"\n{line}" for line in lines)

    def write_config(self) -> Path:
        """Write nginx.conf (and the folders nginx needs); returns its path."""
        for sub in ("tmp", "auth-cache"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        Routes(self.apps_run_dir).folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.render())
        return self.config_path

    def pid(self) -> int | None:
        """nginx's master pid when it runs."""
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def check(self) -> None:
        """Write the configuration and have nginx check it."""
        self.write_config()
        check_config(nginx_command(self.root, self.config_path), "its configuration")

    def command(self) -> list[str]:
        """nginx in the foreground (:func:`foreground_command`); :meth:`Routes.reload`
        signals it through its pid file."""
        return foreground_command(nginx_command(self.root, self.config_path), self.pid_path)

    def stop(self, timeout: float = 10) -> None:
        """Stop an nginx that runs from this folder (e.g. one started before it was
        supervised) and wait until its master is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)


def _children_of(pid: int) -> set[int]:
    """The pids whose parent is ``pid`` (nginx's workers, for its master)."""
    return set(process_children().get(pid, ()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state != "Z"


def _mime_types(nginx: Path) -> Path:
    for candidate in (
        Path("/etc/nginx/mime.types"),
        nginx.parent.parent / "etc" / "nginx" / "mime.types",
        Path("/opt/homebrew/etc/nginx/mime.types"),
        Path("/usr/local/etc/nginx/mime.types"),
    ):
        if candidate.exists():
            return candidate
    return Path("/etc/nginx/mime.types")
