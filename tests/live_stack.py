"""Shared pieces of the live test stack: free ports, waiting for health, where it runs.

A plain module (not a conftest) so tests, fixtures and benchmarks import the same code.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

__all__ = [
    "ACCESS_TOKEN_LIFESPAN",
    "HELLO_CALLBACK",
    "REFRESH_LEEWAY",
    "ROOT",
    "TEST_SALES_ROWS",
    "Stack",
    "free_port",
    "wait_http",
]

ROOT = Path(__file__).resolve().parent.parent

#: Short enough that a test can wait for a refresh, long enough to sign in comfortably.
ACCESS_TOKEN_LIFESPAN = 20
REFRESH_LEEWAY = 5
TEST_SALES_ROWS = 20_000

#: The body Dash's renderer posts when the hello app's button is clicked.
HELLO_CALLBACK = {
    "output": "whoami.children",
    "outputs": {"id": "whoami", "property": "children"},
    "inputs": [{"id": "whoami-button", "property": "n_clicks", "value": 1}],
    "changedPropIds": ["whoami-button.n_clicks"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, *, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process serving {url} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f} s")


@dataclass(frozen=True)
class Stack:
    """Where the test session's Keycloak and portal listen."""

    portal_url: str
    keycloak_url: str
    realm: str
    data_dir: Path
    portal_log: Path
    #: Where deployed apps live (bundles, environments, sockets, logs).
    apps_dir: Path

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url}/realms/{self.realm}"
