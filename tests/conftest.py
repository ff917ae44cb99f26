"""The real stack for integration tests: one Keycloak and one portal per test session.

Keycloak is started through keycloak/kcctl.py (the same script `make up` uses) on free
ports with a fresh data directory, so `make test` also works while `make up` runs. Its
realm is the project's realm-export.json, pointed at the test portal's port and given a
short access-token lifespan so refresh and role changes can be observed. The portal runs
under gunicorn with 2 workers, exactly as in production. Everything started here is
stopped at the end of the session, also when tests fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "keycloak"))
sys.path.insert(0, str(ROOT / "tests"))

import kcctl  # noqa: E402
from live_stack import (  # noqa: E402
    ACCESS_TOKEN_LIFESPAN,
    REFRESH_LEEWAY,
    TEST_SALES_ROWS,
    Stack,
    free_port,
    wait_http,
)


@pytest.fixture(scope="session")
def keycloak_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    portal_port = free_port()
    http_port, management_port = free_port(), free_port()
    instance_dir = tmp_path_factory.mktemp("keycloak")
    realm = kcctl.patch_realm(
        portal_url=f"http://127.0.0.1:{portal_port}",
        access_token_lifespan=ACCESS_TOKEN_LIFESPAN,
    )
    instance = kcctl.start(
        http_port=http_port,
        management_port=management_port,
        instance_dir=instance_dir,
        realm=realm,
    )
    try:
        kcctl.wait_ready(instance, timeout=300)
        yield instance, portal_port
    finally:
        kcctl.stop(instance_dir)


@pytest.fixture(scope="session")
def stack(keycloak_instance: tuple, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    instance, portal_port = keycloak_instance
    data_dir = tmp_path_factory.mktemp("portal-data")
    log_path = data_dir / "portal.log"
    env = {
        **os.environ,
        "KEYCLOAK_URL": instance.base_url,
        "PORTAL_DATA_DIR": str(data_dir),
        "PORTAL_REFRESH_LEEWAY": str(REFRESH_LEEWAY),
        "SALES_ROWS": str(TEST_SALES_ROWS),
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        f"--bind=127.0.0.1:{portal_port}",
        "--workers=2",
        "--threads=4",
        "--timeout=120",
        f"--chdir={ROOT}",
        "portal.wsgi:app",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    stack = Stack(
        portal_url=f"http://127.0.0.1:{portal_port}",
        keycloak_url=instance.base_url,
        realm=instance.realm,
        data_dir=data_dir,
        portal_log=log_path,
    )
    try:
        wait_http(stack.portal_url + "/healthz", timeout=180, process=process)
        yield stack
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def portal_url(stack: Stack) -> str:
    return stack.portal_url
