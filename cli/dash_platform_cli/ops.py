"""Operating an app: deployments, rollback, logs, environment, processes, scale, delete."""

from __future__ import annotations

import sys

import click
import requests

from .errors import EXIT_REFUSED, CliError
from .main import cli, current_api, echo_json

__all__ = ["env"]


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def deployments(slug: str, as_json: bool) -> None:
    """The deployments of app SLUG, newest first."""
    answer = current_api().json("GET", f"/api/apps/{slug}/deployments", slug=slug)
    listing = answer.get("deployments", []) if isinstance(answer, dict) else answer
    if as_json:
        echo_json(listing)
        return
    for item in listing:
        line = (
            f"{item.get('id')!s:>6}  {item.get('status', ''):<9} "
            f"{item.get('created_at') or '':<26} {item.get('created_by') or ''}"
        )
        if item.get("error"):
            line += f"  ({item['error']})"
        click.echo(line.rstrip())


@cli.command()
@click.argument("slug")
@click.argument("deployment_id", metavar="ID")
def rollback(slug: str, deployment_id: str) -> None:
    """Make deployment ID of app SLUG serve again (roll back or forward)."""
    path = f"/api/apps/{slug}/deployments/{deployment_id}/activate"
    current_api().request("POST", path, slug=slug, ok=(200, 202, 204), timeout=(30, 300))
    click.echo(f"deployment {deployment_id} of {slug} is active")


@cli.command()
@click.argument("slug")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--tail", "-n", default=100, show_default=True, type=click.IntRange(min=0))
def logs(slug: str, follow: bool, tail: int) -> None:
    """The app's own output (its processes' stdout and stderr), newest last."""
    params: dict[str, str | int] = {"tail": tail}
    if follow:
        params["follow"] = 1
    response = current_api().request(
        "GET",
        f"/api/apps/{slug}/logs",
        slug=slug,
        params=params,
        stream=follow,
        timeout=(30, None) if follow else 60,
    )
    if not follow:
        click.echo(response.text, nl=not response.text.endswith("\n") and bool(response.text))
        return
    out = sys.stdout
    try:
        for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
            out.write(chunk if isinstance(chunk, str) else chunk.decode(errors="replace"))
            out.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except requests.RequestException as error:
        raise CliError(f"the log stream of {slug} ended: {type(error).__name__}") from error
    finally:
        response.close()


# --------------------------------------------------------------------------- environment


@cli.group()
def env() -> None:
    """The app's environment variables (values are write-only)."""


@env.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def env_list(slug: str, as_json: bool) -> None:
    """Names of the variables of SLUG, and the platform's own (read-only) ones."""
    answer = current_api().json("GET", f"/api/apps/{slug}/env", slug=slug) or {}
    if as_json:
        echo_json(answer)
        return
    for name in answer.get("names", []):
        click.echo(name)
    system = answer.get("system") or {}
    if system:
        click.echo("# set by the platform (read-only):")
        items = system.items() if isinstance(system, dict) else ((n, None) for n in system)
        for name, value in items:
            click.echo(f"{name}={value}" if value is not None else name)


@env.command("set")
@click.argument("slug")
@click.argument("assignment", metavar="NAME=VALUE")
def env_set(slug: str, assignment: str) -> None:
    """Set variable NAME of SLUG (applies at the next start). Without =VALUE, prompt."""
    name, sep, value = assignment.partition("=")
    if not name:
        raise CliError("give the variable as NAME=VALUE", EXIT_REFUSED)
    if not sep:
        value = click.prompt(f"value of {name}", hide_input=True)
    current_api().request(
        "PUT", f"/api/apps/{slug}/env/{name}", slug=slug, json={"value": value}, ok=(200, 204)
    )
    click.echo(f"set {name} on {slug} (restart it to apply: dash-platform restart {slug})")


@env.command("unset")
@click.argument("slug")
@click.argument("name")
def env_unset(slug: str, name: str) -> None:
    """Remove variable NAME of SLUG (applies at the next start)."""
    current_api().request("DELETE", f"/api/apps/{slug}/env/{name}", slug=slug, ok=(200, 204))
    click.echo(f"unset {name} on {slug}")


# --------------------------------------------------------------------------- processes


def _process_command(action: str, summary: str) -> None:
    @cli.command(action, help=f"{summary} app SLUG's processes.")
    @click.argument("slug")
    def command(slug: str) -> None:
        path = f"/api/apps/{slug}/{action}"
        current_api().request("POST", path, slug=slug, ok=(200, 202, 204), timeout=(30, 300))
        click.echo(f"{action} of {slug} requested")


_process_command("restart", "Restart")
_process_command("stop", "Stop")
_process_command("start", "Start")


@cli.command()
@click.argument("slug")
@click.option("--workers", required=True, type=click.IntRange(min=1), help="Workers per process.")
def scale(slug: str, workers: int) -> None:
    """Set the number of workers of app SLUG."""
    app = current_api().json("PATCH", f"/api/apps/{slug}", slug=slug, json={"workers": workers})
    got = app.get("workers", workers) if isinstance(app, dict) else workers
    click.echo(f"{slug}: {got} workers")


@cli.command()
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask to type the slug.")
def delete(slug: str, yes: bool) -> None:
    """Delete app SLUG: stop its processes, remove its bundles and registry entry."""
    if not yes:
        try:
            typed = click.prompt(f"This deletes {slug} for good. Type its slug to confirm")
        except click.Abort:
            raise CliError(
                f"refused: no confirmation (pass --yes to delete {slug} without one)", EXIT_REFUSED
            ) from None
        if typed.strip() != slug:
            raise CliError(
                f"refused: {typed.strip()!r} is not {slug!r}; nothing deleted", EXIT_REFUSED
            )
    current_api().request("DELETE", f"/api/apps/{slug}", slug=slug, ok=(200, 202, 204))
    click.echo(f"deleted {slug}")
