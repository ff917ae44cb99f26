"""What the settings show of themselves (the Admin section and the logs print it)."""

from __future__ import annotations

from pathlib import Path

from portal.settings import Settings


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
