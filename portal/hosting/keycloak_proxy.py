"""One Keycloak URL in front of a Keycloak cluster: nginx balancing the nodes.

Keycloak's nodes share their sessions (distributed caches, persisted in the database), so
any node answers any request and the balancer needs no sticky sessions: it takes turns.
A node that refuses the connection, times out or answers 502/503 (it is stopping) is
passed over for that request (``proxy_next_upstream``) and for the next ``fail_timeout``;
a request nginx already sent and that is not idempotent (a POST) is never sent twice.

Its own nginx, not a server block of the front door's: Keycloak must answer before the
portal starts, and restarting the front door must not take sign-in with it. The same
nginx, found and started the same way (:mod:`portal.hosting.frontdoor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .frontdoor import (
    FrontDoorError,
    check_config,
    foreground_command,
    nginx_command,
    user_line,
)

__all__ = ["KeycloakProxy"]

_TEMPLATE = """# Written by portal/hosting/keycloak_proxy.py; overwritten at the next start.
{user_line}
worker_processes 1;
pid {root}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}

http {{
  # Which node answered each request (after a failed one, both). The path only: a query
  # string may carry a sign-in code.
  log_format keycloak '$remote_addr [$time_iso8601] "$request_method $uri" $status '
                      '$request_time node_status=$upstream_status node=$upstream_addr';
  access_log /dev/stdout keycloak;
  server_tokens off;
  client_body_temp_path {root}/client_temp;
  proxy_temp_path {root}/proxy_temp;
  fastcgi_temp_path {root}/fastcgi_temp;
  uwsgi_temp_path {root}/uwsgi_temp;
  scgi_temp_path {root}/scgi_temp;

  # No keepalive: a POST (a sign-in, a token refresh) sent on a kept connection that a
  # stopping node has just closed fails with 502 and may not be resent; on a new
  # connection a node that is gone refuses, and the request goes to the other node.
  upstream keycloak {{
{servers}
  }}

  server {{
    listen {listen};
    proxy_set_header Host $http_host;
    # A stopped node refuses at once; a stopping one answers 503. A POST that reached a
    # node is not sent again (a sign-in form may have been taken).
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_timeout 10s;
    proxy_connect_timeout 2s;
    # Keycloak's sign-in answers carry large cookies and headers. Answers are passed on
    # from memory, never from a temporary file (its folder may be closed to the workers).
    proxy_buffer_size 64k;
    proxy_buffers 8 64k;
    proxy_busy_buffers_size 128k;
    proxy_max_temp_file_size 0;
    client_body_buffer_size 1m;
    client_max_body_size 10m;

    location / {{
      proxy_pass http://keycloak;
    }}

    # The token endpoint may be asked again on the other node even after a node took the
    # request and died: refresh tokens are not revoked on use (the realm's default), so a
    # refresh repeats safely, and a code exchange repeated is refused (invalid_grant) as
    # its lost answer would have failed anyway.
    location ~ "^/realms/[^/]+/protocol/openid-connect/token$" {{
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_pass http://keycloak;
    }}
  }}
}}
"""


@dataclass(frozen=True)
class KeycloakProxy:
    """nginx in ``root``, listening on ``listen`` and balancing the ``nodes`` (host:port)."""

    root: Path
    listen: str
    nodes: Sequence[str]
    #: How long a node that failed is passed over before nginx tries it again.
    fail_timeout: str = "2s"
    #: The user:group nginx's workers run as when its master is root.
    worker_user: str = "nobody nogroup"
    #: Whether nginx's master starts as root; None: when this process is root.
    master_as_root: bool | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pid_path(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def render(self) -> str:
        """The nginx configuration, as text."""
        if not self.nodes:
            raise FrontDoorError("the Keycloak proxy needs at least one node")
        servers = "\n".join(
            f"    server {node} max_fails=1 fail_timeout={self.fail_timeout};"
            for node in self.nodes
        )
        return _TEMPLATE.format(
            user_line=user_line(self.worker_user, self.master_as_root),
            root=self.root,
            servers=servers,
            listen=self.listen,
        )

    def write_config(self) -> Path:
        """Write nginx.conf (nginx makes its folders of temporary files); returns its path."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.render())
        return self.config_path

    def check(self) -> None:
        """Write the configuration and have nginx check it."""
        self.write_config()
        check_config(nginx_command(self.root, self.config_path), "the Keycloak proxy")

    def command(self) -> list[str]:
        """nginx in the foreground (access log on stdout), as the front door runs."""
        return foreground_command(nginx_command(self.root, self.config_path), self.pid_path)
