"""``dash-platform``: sign in, create apps and deploy them (the operating commands: ops.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .api import Api
from .auth import Keycloak
from .config import Config
from .deploy import deploy as deploy_folder
from .errors import CliError
from .tokens import TokenStore, jwt_claims

__all__ = ["cli", "current_api", "echo_json", "main"]


def current_api() -> Api:
    """The Api of this invocation, made on first use (so --help needs no configuration)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, Api):
        root.obj = Api(Config.from_env())
        root.call_on_close(root.obj.http.close)
    return root.obj


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dash-platform")
def cli() -> None:
    """Deploy and operate Dash apps on the platform.

    Reads DASH_PLATFORM_URL (default http://127.0.0.1:8050) and, for CI, either
    DASH_PLATFORM_TOKEN or DASH_PLATFORM_CLIENT_ID + DASH_PLATFORM_CLIENT_SECRET;
    otherwise the login cached by `dash-platform login`.
    """


# --------------------------------------------------------------------------- sign-in


@cli.command()
def login() -> None:
    """Sign in with your browser (device authorization grant of client dash-cli)."""
    config = Config.from_env()
    if config.auth_mode != "login":
        click.echo(
            "note: DASH_PLATFORM_TOKEN or DASH_PLATFORM_CLIENT_ID is set and takes precedence "
            "over this login",
            err=True,
        )
    keycloak = Keycloak(config)
    device = keycloak.start_device_login()
    click.echo(f"Open {device.verification_uri_complete}", err=True)
    click.echo(f"  (or {device.verification_uri} and enter the code {device.user_code})", err=True)
    click.echo("Waiting for you to sign in ...", err=True)
    answer = device.wait()
    entry = TokenStore(config.token_file).save(config.issuer, answer)
    who = entry.get("username") or jwt_claims(answer["access_token"]).get("sub", "?")
    click.echo(f"signed in as {who} (tokens in {config.token_file})")


@cli.command()
def logout() -> None:
    """Revoke the cached login at Keycloak and forget it."""
    config = Config.from_env()
    store = TokenStore(config.token_file)
    entry = store.get(config.issuer)
    if entry is None:
        click.echo(f"not signed in to {config.issuer}")
        return
    revoked = False
    if entry.get("refresh_token"):
        try:
            revoked = Keycloak(config).revoke(entry["refresh_token"])
        except CliError as error:
            click.echo(f"warning: {error.message}; forgetting the tokens anyway", err=True)
    store.forget(config.issuer)
    note = "" if revoked else " (Keycloak did not confirm the revocation)"
    click.echo(f"signed out of {config.issuer}{note}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def whoami(as_json: bool) -> None:
    """Who the platform sees: username, roles and groups."""
    api = current_api()
    me = api.json("GET", "/api/me")
    if as_json:
        echo_json({k: v for k, v in me.items() if k != "csrf_token"})
        return
    click.echo(me.get("username", "?"))
    click.echo(f"roles: {', '.join(me.get('roles') or []) or '-'}")
    click.echo(f"groups: {', '.join(me.get('groups') or []) or '-'}")


# --------------------------------------------------------------------------- apps


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def apps(as_json: bool) -> None:
    """The apps you may open (those you manage are marked *)."""
    api = current_api()
    listing = api.json("GET", "/api/apps").get("apps", [])
    if as_json:
        echo_json(listing)
        return
    for app in listing:
        mark = "*" if app.get("can_manage") else " "
        click.echo(f"{mark} {app['slug']:<24} {app.get('access', ''):<16} {app.get('title', '')}")


@cli.command()
@click.argument("slug")
@click.option("--title", help="Title shown in the portal (default: from the slug).")
def create(slug: str, title: str | None) -> None:
    """Create app SLUG, owned by you (Restricted and hidden until you share it)."""
    api = current_api()
    body: dict[str, str] = {"slug": slug}
    if title:
        body["title"] = title
    app = api.json("POST", "/api/apps", json=body, ok=(200, 201))
    click.echo(f"created {app.get('slug', slug)} (owner {app.get('owner', '?')})")


@cli.command()
@click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option("--app", "slug", required=True, help="The app to deploy to.")
@click.option("--entrypoint", default="app:app", show_default=True, help="module:attribute")
@click.option("--timeout", default=900.0, show_default=True, help="Seconds to wait for the build.")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded, upload nothing.")
def deploy(folder: Path, slug: str, entrypoint: str, timeout: float, dry_run: bool) -> None:
    """Pack DIR (honouring .dashignore or .gitignore), upload it and follow the build."""
    url = deploy_folder(
        current_api(), folder, slug, entrypoint=entrypoint, timeout=timeout, dry_run=dry_run
    )
    if url:
        click.echo(url)


def main() -> None:
    """Console entry point: one line on stderr for any failure, never a traceback."""
    try:
        cli.main(prog_name="dash-platform")
    except CliError as error:  # raised outside click's own handling (e.g. at close)
        error.show()
        sys.exit(error.exit_code)
    except Exception as error:
        if os.environ.get("DASH_PLATFORM_DEBUG"):
            raise
        click.echo(f"error: unexpected {type(error).__name__}: {error}", err=True)
        sys.exit(1)


# The operating commands (logs, env, restart, ...) register themselves on `cli`.
from . import ops  # noqa: E402, F401
