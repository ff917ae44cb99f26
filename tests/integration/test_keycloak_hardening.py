"""What the realm lets its clients do, against the real Keycloak (issue 12).

The portal's ``dash-admin`` service account reads and changes nothing else; service
accounts are no portal users unless mapped on purpose; ``admin-cli`` takes no password;
brute-force protection stops guessing but not a person signing in from two tabs.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from portal.keycloak_admin import DirectoryUnavailable, KeycloakDirectory
from tests.live_stack import Stack, free_port
from tests.oidc_flow import LoginFormError, login

pytestmark = pytest.mark.integration

ADMIN_CLIENT = ("dash-admin", "dash-admin-dev-secret")


def client_token(stack: Stack, client_id: str, secret: str) -> str:
    answer = requests.post(
        f"{stack.issuer}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def test_the_portal_service_account_cannot_map_roles_change_users_or_read_secrets(
    stack: Stack, temp_user: dict
) -> None:
    master, user_id = temp_user["api"], temp_user["id"]
    dash = master.get(f"{master.base_url}/clients", params={"clientId": "dash"}).json()[0]
    admin_role = master.get(f"{master.base_url}/clients/{dash['id']}/roles/admin").json()
    portal = requests.Session()
    portal.headers["Authorization"] = f"Bearer {client_token(stack, *ADMIN_CLIENT)}"
    base = master.base_url
    mapped = portal.post(
        f"{base}/users/{user_id}/role-mappings/clients/{dash['id']}", json=[admin_role]
    )
    assert mapped.status_code == 403
    changed = portal.put(f"{base}/users/{user_id}", json={"firstName": "Mallory"})
    assert changed.status_code == 403
    assert portal.post(f"{base}/users/{user_id}/logout").status_code == 403
    listed = portal.get(f"{base}/clients", params={"clientId": "dash"})
    assert listed.status_code == 403 or all("secret" not in c for c in listed.json())
    assert portal.get(f"{base}/clients/{dash['id']}/client-secret").status_code == 403
    assert portal.get(f"{base}/clients/{dash['id']}").status_code == 403
    # Nothing changed: the user holds no dash role beyond the default viewer.
    held = master.get(f"{base}/users/{user_id}/role-mappings/clients/{dash['id']}/composite")
    assert [r["name"] for r in held.json()] == ["viewer"]
    assert master.get(f"{base}/users/{user_id}").json()["firstName"] == "Temp"


def test_the_portal_service_account_reads_what_the_admin_section_shows(stack: Stack) -> None:
    directory = KeycloakDirectory(
        base_url=stack.keycloak_url,
        realm=stack.realm,
        client_id=ADMIN_CLIENT[0],
        client_secret=ADMIN_CLIENT[1],
        cache_seconds=0,
    )
    users = {u.username: u for u in directory.users_with_roles_and_groups()}
    assert users["admin"].roles == {"admin", "licensed_user", "viewer"}
    assert users["carol"].roles == {"viewer"}
    assert users["carol"].groups == {"/sales/east/managers"}
    assert "service-account-dash-admin" not in users
    assert directory.licensed_usernames() >= {"admin", "alice", "erin"}
    assert "/sales/west/managers" in directory.suggest_groups("west")
    login(stack.portal_url, "dave")
    assert "dave" in {e.username for e in directory.login_events(1)}
    assert directory.session_ids(directory.user_id("dave"))
    assert isinstance(directory.user_admin_events(), list)
    assert directory.is_licensed("erin") and not directory.is_licensed("bob")
    assert directory.suggest_users("car") == ["carol"]
    assert directory.unknown_principals(["bob", "nobody"], ["/finance", "/nope"]) == (
        {"nobody"},
        {"/nope"},
    )


def test_the_directory_names_a_refused_service_account_or_an_unreachable_keycloak(
    stack: Stack,
) -> None:
    wrong = KeycloakDirectory(
        base_url=stack.keycloak_url, realm=stack.realm, client_id="dash-admin", client_secret="x"
    )
    with pytest.raises(DirectoryUnavailable, match=r"dash-admin service account \(HTTP 401\)"):
        wrong.licensed_usernames()
    gone = KeycloakDirectory(
        base_url=f"http://127.0.0.1:{free_port()}",
        realm=stack.realm,
        client_id="dash-admin",
        client_secret=ADMIN_CLIENT[1],
    )
    with pytest.raises(DirectoryUnavailable, match="unreachable"):
        gone.licensed_usernames()


def test_the_admin_pages_show_keycloak_users_through_the_portal(stack: Stack) -> None:
    admin = login(stack.portal_url, "admin")
    users = admin.get(f"{stack.portal_url}/admin/users", timeout=30)
    assert users.status_code == 200
    assert "/sales/east/managers" in users.text and "carol" in users.text
    assert "admin API is unavailable" not in users.text
    overview = admin.get(f"{stack.portal_url}/admin/", timeout=30)
    assert overview.status_code == 200 and "admin API is unavailable" not in overview.text


def test_a_service_account_is_no_portal_user_unless_mapped(stack: Stack) -> None:
    me = f"{stack.portal_url}/api/me"
    admin_token = client_token(stack, *ADMIN_CLIENT)
    payload = admin_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "realm-management"  # no audience dash: not meant for the portal
    refused = requests.get(me, headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    assert refused.status_code == 401
    deploy_token = client_token(stack, "dash-deploy", "dash-deploy-dev-secret")
    answer = requests.get(me, headers={"Authorization": f"Bearer {deploy_token}"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["username"] == "service-account-dash-deploy"


def test_admin_cli_takes_no_password_in_the_realm(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "dave",
            "password": "dave-password",
        },
        timeout=30,
    )
    assert answer.status_code in (400, 401)
    assert answer.json()["error"] == "unauthorized_client"


def test_one_user_signing_in_from_several_tabs_at_once(stack: Stack, temp_user: dict) -> None:
    name = temp_user["username"]
    me = f"{stack.portal_url}/api/me"
    for _ in range(3):  # a double submit, two tabs, a script: several rounds of them
        with ThreadPoolExecutor(4) as pool:
            sessions = list(pool.map(lambda _: login(stack.portal_url, name), range(4)))
        assert {s.get(me, timeout=10).json()["username"] for s in sessions} == {name}


def test_repeated_wrong_passwords_still_lock_the_account(stack: Stack, temp_user: dict) -> None:
    api, name = temp_user["api"], temp_user["username"]
    for _ in range(3):
        with pytest.raises(LoginFormError):
            login(stack.portal_url, name, "not-the-password")
    status = api.get(f"{api.base_url}/attack-detection/brute-force/users/{temp_user['id']}")
    assert status.json()["disabled"] is True
    with pytest.raises(LoginFormError):  # locked: even the right password is refused now
        login(stack.portal_url, name)
