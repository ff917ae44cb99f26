"""Running `dash-platform` against the live test stack, and approving its device sign-in.

The CLI runs as the installed console script of the project's virtual environment, as a
person or a CI job would run it. The device page is completed with plain HTTP, as a browser
would: Keycloak's login form, then its consent form.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.live_stack import Stack
from tests.oidc_flow import keycloak_form_action

__all__ = [
    "CLI",
    "DEPLOY_CLIENT",
    "DEPLOY_SECRET",
    "approve_device",
    "ci_env",
    "cli_env",
    "client_token",
    "run_cli",
]

CLI = Path(sys.executable).parent / "dash-platform"
DEPLOY_CLIENT = "dash-deploy"
#: The realm's dev default of ${DASH_DEPLOY_CLIENT_SECRET:dash-deploy-dev-secret}.
DEPLOY_SECRET = "dash-deploy-dev-secret"

_CONSENT_FORM = re.compile(r'<form[^>]*action="([^"]*login-actions/consent[^"]*)"', re.S)
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.S)


def cli_env(stack: Stack, home: Path, **extra: str) -> dict[str, str]:
    """An environment for the CLI aimed at the test stack, with its own config folder."""
    return {
        "PATH": f"{CLI.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "DASH_PLATFORM_URL": stack.portal_url,
        "DASH_PLATFORM_KEYCLOAK_URL": stack.keycloak_url,
        "DASH_PLATFORM_REALM": stack.realm,
        **extra,
    }


def ci_env(stack: Stack, home: Path) -> dict[str, str]:
    """The environment of a CI job deploying as the realm's dash-deploy client."""
    return cli_env(
        stack,
        home,
        DASH_PLATFORM_CLIENT_ID=DEPLOY_CLIENT,
        DASH_PLATFORM_CLIENT_SECRET=DEPLOY_SECRET,
    )


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 300, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"{CLI} is missing: run `make venv` (pip install -e ./cli)"
    return subprocess.run(
        [str(CLI), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def client_token(stack: Stack) -> str:
    """An access token of dash-deploy's service account (client credentials)."""
    answer = requests.post(
        f"{stack.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEPLOY_CLIENT,
            "client_secret": DEPLOY_SECRET,
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>|\s+", " ", re.sub(r"<script.*?</script>", " ", page, flags=re.S))


def approve_device(verification_url: str, username: str, password: str | None = None) -> str:
    """Open the device page, sign in as ``username`` and grant access; returns the last page."""
    browser = requests.Session()
    page = browser.get(verification_url, timeout=30)
    assert page.status_code == 200, f"{verification_url}: {page.status_code}"
    if "kc-form-login" not in page.text and 'name="device_user_code"' in page.text:
        raise AssertionError("Keycloak asks for the user code: the URL carried none")
    answer = browser.post(
        keycloak_form_action(page.text),
        data={"username": username, "password": password or f"{username}-password"},
        timeout=30,
    )
    assert answer.status_code == 200, f"login form: {answer.status_code}"
    consent = _CONSENT_FORM.search(answer.text)
    if consent is not None:  # Keycloak asks the person to grant the device access
        fields = dict(_HIDDEN.findall(answer.text))
        answer = browser.post(
            urljoin(answer.url, html.unescape(consent.group(1))),
            data={**fields, "accept": "Yes"},
            timeout=30,
        )
    text = _text(answer.text)
    assert "Device Login Successful" in text, f"device page ended at {answer.url}: {text[-600:]}"
    return text
