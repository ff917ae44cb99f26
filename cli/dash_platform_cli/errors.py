"""One clear line for every way a command can fail, and the exit code that goes with it."""

from __future__ import annotations

import json
from typing import IO, Any

import click
import requests

__all__ = [
    "EXIT_BUILD_FAILED",
    "EXIT_NOT_ALLOWED",
    "EXIT_NOT_FOUND",
    "EXIT_NOT_SIGNED_IN",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "CliError",
    "error_for_response",
    "server_message",
]

EXIT_ERROR = 1
EXIT_NOT_SIGNED_IN = 3
EXIT_NOT_ALLOWED = 4
EXIT_NOT_FOUND = 5
EXIT_REFUSED = 6
EXIT_BUILD_FAILED = 7
EXIT_UNREACHABLE = 8

NOT_SIGNED_IN = "not signed in: run dash-platform login"


class CliError(click.ClickException):
    """A failure shown as one line on stderr (``error: ...``), never a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True, file=file)


def server_message(response: requests.Response) -> str:
    """The server's ``{"error": ...}``, or a short form of whatever else it answered."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"].strip()
    text = response.text.strip()
    if text and not text.lstrip().startswith("<"):
        return text.splitlines()[0][:200]
    return response.reason or f"HTTP {response.status_code}"


def error_for_response(
    response: requests.Response, *, slug: str | None = None, bundle: bool = False
) -> CliError:
    """The error a failed answer of the platform stands for.

    ``slug`` names the app the request was about (a 404 then says "no such app");
    ``bundle`` marks an upload (a refusal then says "bundle refused").
    """
    status = response.status_code
    message = server_message(response)
    if status == 401:
        return CliError(NOT_SIGNED_IN, EXIT_NOT_SIGNED_IN)
    if status == 403:
        return CliError(f"not allowed: {message}", EXIT_NOT_ALLOWED)
    if status == 404:
        if slug is not None and message.startswith("No app"):
            return CliError(f"no such app: {slug}", EXIT_NOT_FOUND)
        return CliError(f"not found: {message}", EXIT_NOT_FOUND)
    if status == 405:
        method = response.request.method if response.request is not None else "request"
        return CliError(
            f"the platform does not offer this ({method} {_path(response)} answered 405)",
            EXIT_ERROR,
        )
    if status in (400, 409, 413, 422):
        if status == 413 and not _is_json(response):
            message = "the bundle is too large for the platform"
        what = "bundle refused" if bundle else "refused"
        return CliError(f"{what}: {message}", EXIT_REFUSED)
    return CliError(f"the platform answered {status}: {message}", EXIT_ERROR)


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("application/json")


def _path(response: requests.Response) -> str:
    url = response.request.url if response.request is not None else response.url
    return requests.utils.urlparse(url or "").path or "/"
