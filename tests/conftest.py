"""The real stack for integration tests: one Keycloak and one portal per test session.

Keycloak is started through kcctl (the package `make up` uses) on free
ports with a fresh data directory, so `make test` also works while `make up` runs. Its
realm is the project's realm-export.json, pointed at the test front door's port and given
a short access-token lifespan so refresh and role changes can be observed. The platform
is started by portal.hosting.local, as `make up` starts it: supervisord with the built-in
apps deployed as bundles, the portal under gunicorn with 2 workers, nginx in front.
Everything started here is stopped at the end of the session, also when tests fail.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import kcctl
from portal.hosting.local import LocalPlatform
from tests.live_stack import (
    ACCESS_TOKEN_LIFESPAN,
    REFRESH_LEEWAY,
    TEST_SALES_ROWS,
    Stack,
    free_port,
)

# PostgreSQL and Redis as local processes, for the tests that ask for them.
pytest_plugins = ["tests.servers"]


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
def local_platform(keycloak_instance: tuple) -> Iterator[LocalPlatform]:
    """The session's platform (not started: ``stack`` starts it), for tests that change
    how it runs, e.g. with more portal processes (tests/integration/test_replicas.py)."""
    instance, portal_port = keycloak_instance
    # Not under pytest's 0700 temp folder: app users and nginx's workers must be able to
    # enter the apps' folders (the platform makes them 0711: enter, not list).
    data_dir = Path(tempfile.mkdtemp(prefix="platform-test-"))
    try:
        yield LocalPlatform(
            data_dir=data_dir,
            listen=f"127.0.0.1:{portal_port}",
            env={
                "KEYCLOAK_URL": instance.base_url,
                "PORTAL_REFRESH_LEEWAY": str(REFRESH_LEEWAY),
                "SALES_ROWS": str(TEST_SALES_ROWS),
            },
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(keycloak_instance: tuple, local_platform: LocalPlatform) -> Iterator[Stack]:
    instance, _ = keycloak_instance
    platform = local_platform
    stack = Stack(
        portal_url=platform.url,
        keycloak_url=instance.base_url,
        realm=instance.realm,
        data_dir=platform.data_dir,
        portal_log=platform.layout.portal_log,
        apps_dir=platform.layout.apps_dir,
    )
    try:
        platform.start(timeout=900)
        yield stack
    finally:
        platform.stop()


@pytest.fixture(scope="session")
def portal_url(stack: Stack) -> str:
    return stack.portal_url
