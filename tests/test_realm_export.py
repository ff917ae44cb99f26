"""Structure of realm-export.json against the demo contract (realm, clients, users).

Pure file tests: they catch a broken realm before Keycloak has to import it. The integration
tests prove the same facts on a running Keycloak (tokens, roles, groups).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
REALM = json.loads((ROOT / "realm-export.json").read_text(encoding="utf-8"))

PORTALS = ("http://127.0.0.1:8050", "http://localhost:8050")

#: The contract's table: roles of client dash (besides viewer, which every user gets
#: from default-roles-dash) and groups.
CONTRACT_USERS: dict[str, tuple[set[str], set[str]]] = {
    "admin": ({"admin", "licensed_user"}, set()),
    "alice": ({"licensed_user"}, {"/sales/east"}),
    "bob": (set(), {"/sales/east"}),
    "carol": (set(), {"/sales/east/managers"}),
    "dave": (set(), set()),
    "erin": ({"licensed_user"}, {"/finance"}),
    "frank": (set(), {"/sales/west"}),
}
GROUP_PATHS = {
    "/sales",
    "/sales/east",
    "/sales/east/managers",
    "/sales/west",
    "/sales/west/managers",
    "/finance",
}
#: Exactly what the portal reads (users, groups, each user's roles, sign-in and admin
#: events, sessions; the realm's default role to find client dash). Nothing that changes
#: users or maps roles, nothing that shows a client (and with it its secret).
ADMIN_API_ROLES = {
    "view-users",
    "query-users",
    "query-groups",
    "view-events",
    "view-realm",
}


def client(client_id: str) -> dict[str, Any]:
    matches = [c for c in REALM["clients"] if c["clientId"] == client_id]
    assert len(matches) == 1, f"expected one client {client_id}"
    return matches[0]


def realm_role(name: str) -> dict[str, Any]:
    matches = [r for r in REALM["roles"]["realm"] if r["name"] == name]
    assert len(matches) == 1, f"expected one realm role {name}"
    return matches[0]


def humans() -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in REALM["users"] if "serviceAccountClientId" not in u}


def mapper(client_id: str, kind: str) -> dict[str, str]:
    found = [m for m in client(client_id)["protocolMappers"] if m["protocolMapper"] == kind]
    assert len(found) == 1, f"{client_id} should have one {kind}"
    assert found[0]["protocol"] == "openid-connect"
    return found[0]["config"]


def group_paths(groups: list[dict[str, Any]], parent: str = "") -> set[str]:
    paths = set()
    for group in groups:
        path = f"{parent}/{group['name']}"
        paths.add(path)
        paths |= group_paths(group.get("subGroups", []), path)
    return paths


def default_role_grants() -> set[str]:
    composites = realm_role(REALM["defaultRole"]["name"])["composites"]
    return set(composites.get("client", {}).get("dash", []))


# --------------------------------------------------------------------------- realm


def test_realm_name_and_login_settings() -> None:
    assert REALM["realm"] == "dash"
    assert REALM["enabled"] is True
    assert REALM["registrationAllowed"] is False
    assert REALM["resetPasswordAllowed"] is True
    assert REALM["loginWithEmailAllowed"] is True
    assert REALM["sslRequired"] == "external"


def test_token_and_session_lifetimes() -> None:
    assert REALM["accessTokenLifespan"] == 300
    assert 0 < REALM["ssoSessionIdleTimeout"] <= REALM["ssoSessionMaxLifespan"]


def test_events_are_recorded() -> None:
    assert REALM["eventsEnabled"] is True
    assert REALM["eventsExpiration"] > 0
    wanted = {"LOGIN", "LOGIN_ERROR", "LOGOUT", "CODE_TO_TOKEN", "REFRESH_TOKEN"}
    assert wanted <= set(REALM["enabledEventTypes"])
    assert REALM["adminEventsEnabled"] is True


def test_brute_force_protection_is_on() -> None:
    assert REALM["bruteForceProtected"] is True
    assert REALM["failureFactor"] >= 3


def test_password_policy_admits_the_demo_passwords() -> None:
    # Keycloak checks plain-text credentials of an import against the policy and refuses
    # to start if one fails (seen with length(20)), so the demo passwords must comply.
    policy = REALM["passwordPolicy"]
    length = re.search(r"length\((\d+)\)", policy)
    assert length, "the realm should require a minimum password length"
    assert "notUsername" in policy and "notEmail" in policy
    for name, user in humans().items():
        password = user["credentials"][0]["value"]
        assert len(password) >= int(length.group(1)), name
        assert password not in (name, user["email"])


def test_only_known_env_placeholders() -> None:
    # Keycloak substitutes every ${NAME:default} of an import from the environment.
    text = (ROOT / "realm-export.json").read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{([^}:]+)", text)) == {
        "DASH_CLIENT_SECRET",
        "DASH_ADMIN_CLIENT_SECRET",
        "DASH_DEPLOY_CLIENT_SECRET",
        "DASH_BACKCHANNEL_LOGOUT_URL",
    }


# --------------------------------------------------------------------------- roles


def test_default_role_is_declared_and_grants_viewer() -> None:
    # Without the top-level defaultRole, Keycloak would make its own default role and
    # nobody would receive the composite below.
    assert REALM["defaultRole"]["name"] == "default-roles-dash"
    role = realm_role("default-roles-dash")
    assert role["composite"] is True
    assert {"offline_access", "uma_authorization"} <= set(role["composites"]["realm"])
    assert default_role_grants() == {"viewer"}


def test_dash_client_roles_are_described() -> None:
    roles = {r["name"]: r for r in REALM["roles"]["client"]["dash"]}
    assert set(roles) == {"viewer", "licensed_user", "admin"}
    assert all(r["description"].strip() for r in roles.values())


# --------------------------------------------------------------------------- clients


def test_dash_is_a_confidential_code_flow_client_with_pkce() -> None:
    dash = client("dash")
    assert dash["publicClient"] is False
    assert dash["clientAuthenticatorType"] == "client-secret"
    assert dash["secret"] == "${DASH_CLIENT_SECRET:dash-dev-secret}"
    assert dash["standardFlowEnabled"] is True
    assert dash["implicitFlowEnabled"] is False
    assert dash["directAccessGrantsEnabled"] is False
    assert dash["serviceAccountsEnabled"] is False
    assert dash["attributes"]["pkce.code.challenge.method"] == "S256"
    assert dash["attributes"].get("oauth2.device.authorization.grant.enabled") != "true"


def test_dash_redirects_and_logout() -> None:
    dash = client("dash")
    attributes = dash["attributes"]
    assert set(dash["redirectUris"]) == {f"{p}/auth/callback" for p in PORTALS}
    assert set(dash["webOrigins"]) == set(PORTALS)
    post_logout = attributes["post.logout.redirect.uris"].split("##")
    assert all(any(uri.startswith(p + "/") for uri in post_logout) for p in PORTALS)
    assert attributes["backchannel.logout.url"] == (
        "${DASH_BACKCHANNEL_LOGOUT_URL:http://127.0.0.1:8050/auth/backchannel-logout}"
    )
    assert attributes["backchannel.logout.session.required"] == "true"
    assert dash["frontchannelLogout"] is False


@pytest.mark.parametrize("client_id", ["dash", "dash-cli"])
def test_token_mappers(client_id: str) -> None:
    roles = mapper(client_id, "oidc-usermodel-client-role-mapper")
    assert roles["usermodel.clientRoleMapping.clientId"] == "dash"
    # Literal on purpose: ${client_id} would name dash-cli in dash-cli's tokens.
    assert roles["claim.name"] == "resource_access.dash.roles"
    assert roles["multivalued"] == "true"
    groups = mapper(client_id, "oidc-group-membership-mapper")
    assert groups["claim.name"] == "groups"
    assert groups["full.path"] == "true"
    for config in (roles, groups):
        for token in ("id.token.claim", "access.token.claim", "userinfo.token.claim"):
            assert config[token] == "true", token
    audience = mapper(client_id, "oidc-audience-mapper")
    assert audience["included.client.audience"] == "dash"
    assert audience["access.token.claim"] == "true"


@pytest.mark.parametrize("client_id", ["dash", "dash-cli"])
def test_standard_scopes_give_profile_and_email(client_id: str) -> None:
    scopes = set(client(client_id)["defaultClientScopes"])
    assert {"profile", "email", "basic", "roles"} <= scopes


def test_dash_cli_is_public_with_pkce_and_device_grant() -> None:
    cli = client("dash-cli")
    assert cli["publicClient"] is True
    assert cli["standardFlowEnabled"] is True
    assert cli["implicitFlowEnabled"] is False
    assert cli["directAccessGrantsEnabled"] is False
    assert cli["attributes"]["pkce.code.challenge.method"] == "S256"
    assert cli["attributes"]["oauth2.device.authorization.grant.enabled"] == "true"
    assert set(cli["redirectUris"]) == {"http://127.0.0.1/*", "http://localhost/*"}


def test_dash_admin_is_a_service_account_only() -> None:
    admin = client("dash-admin")
    assert admin["publicClient"] is False
    assert admin["secret"] == "${DASH_ADMIN_CLIENT_SECRET:dash-admin-dev-secret}"
    assert admin["serviceAccountsEnabled"] is True
    assert admin["standardFlowEnabled"] is False
    assert admin["implicitFlowEnabled"] is False
    assert admin["directAccessGrantsEnabled"] is False


def test_dash_admin_service_account_roles() -> None:
    accounts = [u for u in REALM["users"] if u.get("serviceAccountClientId") == "dash-admin"]
    assert len(accounts) == 1
    account = accounts[0]
    assert account["username"] == "service-account-dash-admin"
    assert list(account["clientRoles"]) == ["realm-management"]
    assert set(account["clientRoles"]["realm-management"]) == ADMIN_API_ROLES
    # No default role: its token carries no audience dash, so it is no portal user.
    assert account["realmRoles"] == []


def test_admin_cli_signs_nobody_in_with_a_password() -> None:
    admin_cli = client("admin-cli")
    assert admin_cli["publicClient"] is True
    assert admin_cli["directAccessGrantsEnabled"] is False
    assert admin_cli["standardFlowEnabled"] is False
    assert admin_cli["serviceAccountsEnabled"] is False


def test_dash_deploy_is_confidential_with_client_credentials_only() -> None:
    deploy = client("dash-deploy")
    assert deploy["enabled"] is True
    assert deploy["publicClient"] is False
    assert deploy["bearerOnly"] is False
    assert deploy["clientAuthenticatorType"] == "client-secret"
    assert deploy["secret"] == "${DASH_DEPLOY_CLIENT_SECRET:dash-deploy-dev-secret}"
    assert deploy["serviceAccountsEnabled"] is True
    assert deploy["standardFlowEnabled"] is False
    assert deploy["implicitFlowEnabled"] is False
    assert deploy["directAccessGrantsEnabled"] is False
    assert deploy["attributes"].get("oauth2.device.authorization.grant.enabled") != "true"
    assert deploy["attributes"].get("oidc.ciba.grant.enabled") != "true"
    assert deploy["redirectUris"] == []


def test_dash_deploy_tokens_carry_audience_roles_and_username() -> None:
    roles = mapper("dash-deploy", "oidc-usermodel-client-role-mapper")
    assert roles["usermodel.clientRoleMapping.clientId"] == "dash"
    assert roles["claim.name"] == "resource_access.dash.roles"
    assert roles["multivalued"] == "true"
    assert roles["access.token.claim"] == "true"
    audience = mapper("dash-deploy", "oidc-audience-mapper")
    assert audience["included.client.audience"] == "dash"
    assert audience["access.token.claim"] == "true"
    # preferred_username (service-account-dash-deploy) comes from the profile scope.
    assert {"profile", "basic", "roles"} <= set(client("dash-deploy")["defaultClientScopes"])


def test_dash_deploy_service_account_is_a_licensed_user_only() -> None:
    accounts = [u for u in REALM["users"] if u.get("serviceAccountClientId") == "dash-deploy"]
    assert len(accounts) == 1
    account = accounts[0]
    assert account["username"] == "service-account-dash-deploy"
    assert account["enabled"] is True
    assert account["clientRoles"] == {"dash": ["licensed_user"]}
    assert "realm-management" not in account["clientRoles"]
    assert set(account["realmRoles"]) == {"default-roles-dash"}
    assert not account.get("groups")


# --------------------------------------------------------------------------- groups, users


def test_group_tree() -> None:
    assert group_paths(REALM["groups"]) == GROUP_PATHS


def test_demo_users_are_exactly_the_contracts() -> None:
    assert set(humans()) == set(CONTRACT_USERS)


@pytest.mark.parametrize("name", sorted(CONTRACT_USERS))
def test_demo_user(name: str) -> None:
    roles, groups = CONTRACT_USERS[name]
    user = humans()[name]
    assert user["enabled"] is True
    assert user["emailVerified"] is True
    assert user["email"] == f"{name}@example.com"
    assert user["firstName"] and user["lastName"]
    assert not user.get("requiredActions")
    assert user["credentials"] == [
        {"type": "password", "value": f"{name}-password", "temporary": False}
    ]
    assert set(user.get("clientRoles", {}).get("dash", [])) == roles
    # Imported users get only the roles listed: the default role must be named.
    assert "default-roles-dash" in user["realmRoles"]
    assert roles | default_role_grants() == roles | {"viewer"}
    assert set(user.get("groups", [])) == groups
    assert set(user.get("groups", [])) <= GROUP_PATHS
