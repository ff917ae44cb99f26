"""What the settings show of themselves (the Admin section and the logs print it)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from portal.deploys.startup import builtin_env
from portal.settings import Settings, SettingsError, parse_flag


def test_public_settings_hide_secrets_and_passwords_in_urls(tmp_path: Path) -> None:
    settings = Settings.from_env(
        data_dir=tmp_path,
        database_url="postgresql://portal:db-secret@db:5432/portal",
        redis_url="redis://:redis-secret@cache:6379/0",
    )
    shown = settings.public()
    assert shown["database_url"] == "postgresql://portal:***@db:5432/portal"
    assert shown["redis_url"] == "redis://:***@cache:6379/0"  # no user name: still masked
    assert not {"secret_key", "client_secret", "admin_client_secret"} & set(shown)
    assert "secret" not in " ".join(str(value) for value in shown.values())


def test_every_setting_names_its_own_variable() -> None:
    variables = [spec.metadata["env"] for spec in fields(Settings)]
    assert len(variables) == len(set(variables))
    assert all(name.isupper() for name in variables)


def test_variables_are_read_by_the_type_of_their_setting(tmp_path: Path) -> None:
    environ = {
        "PORTAL_DATA_DIR": str(tmp_path),
        "PORTAL_LICENSE_SEATS": "25",
        "PORTAL_REVOCATION_POLL": "0.5",
        "PORTAL_SEED_APPS": "No",
        "PORTAL_SECURE_COOKIES": " on ",
        "PORTAL_SERVICE_ACCOUNT_CLIENTS": "ci-one, ci-two,,",
        "PORTAL_APPS_DIR": str(tmp_path / "elsewhere"),
        "PORTAL_HOST_CACHE": "auto",
        "DATABASE_URL": "postgresql://portal@db/portal",
        "KEYCLOAK_URL": "",  # empty: the default
    }
    settings = Settings.from_env(environ, secret_key="fixed")
    assert settings.data_dir == tmp_path.resolve()
    assert settings.license_seats == 25
    assert settings.revocation_poll_seconds == 0.5
    assert settings.seed_apps is False
    assert settings.secure_cookies is True
    assert settings.service_account_clients == ("ci-one", "ci-two")
    assert settings.apps_dir == (tmp_path / "elsewhere").resolve()
    assert settings.host_cache is True  # auto, with PostgreSQL (its NOTIFY tells every process)
    assert settings.keycloak_url == "http://127.0.0.1:8080"


def test_overrides_win_over_the_environment(tmp_path: Path) -> None:
    environ = {"PORTAL_LICENSE_SEATS": "not a number", "PORTAL_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(environ, license_seats=3).license_seats == 3


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("PORTAL_LICENSE_SEATS", "ten"),
        ("PORTAL_SEED_APPS", "maybe"),
        ("PORTAL_APP_SANDBOX", "auto"),  # only host_cache may be decided later
        ("PORTAL_HOST_CACHE", "sometimes"),
    ],
)
def test_a_bad_variable_is_refused_by_name(tmp_path: Path, variable: str, text: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: text, "PORTAL_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("On", True), ("0", False), ("off", False)],
)
def test_one_reading_of_yes_and_no(text: str, expected: bool) -> None:
    assert parse_flag(text) is expected


def test_builtin_apps_get_only_their_own_namespace() -> None:
    environ = {
        "SALES_ROWS": "5000",
        "SALES_BACKEND": "duckdb",
        "SALES_DATABASE_URL": "",  # unset in effect
        "SALESFORCE_TOKEN": "x",  # another namespace
        "DATABASE_URL": "postgresql://portal:secret@db/portal",
        "PORTAL_SECRET_KEY": "secret",
    }
    assert builtin_env("sales", environ) == {"SALES_ROWS": "5000", "SALES_BACKEND": "duckdb"}
    assert builtin_env("hello", environ) == {}
