"""The realm's users, roles, groups and sign-ins, as the Admin section and App Manager need them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from roles import SEAT, Role, normalize_group, normalize_username

from .connection import AdminConnection
from .model import (
    DirectoryError,
    DirectoryUnavailable,
    DirectoryUser,
    LoginEvent,
    UnknownUser,
    is_person,
    user_from_rep,
)
from .suggestions import CANDIDATES_PER_SUGGESTION, SUGGEST_LIMIT, names_start_with, searchable

__all__ = ["KeycloakDirectory"]

#: At most this many sign-in events in one answer: a guard, not a feature.
EVENT_LIMIT = 10_000


class KeycloakDirectory:
    """Keycloak's admin API of one realm, read through the ``dash-admin`` service account."""

    def __init__(
        self,
        *,
        base_url: str,
        realm: str,
        client_id: str,
        client_secret: str,
        app_client_id: str = "dash",
        console_url: str | None = None,
        timeout: float = 5.0,
        cache_seconds: float = 15.0,
    ) -> None:
        self._api = AdminConnection(
            base_url=base_url,
            realm=realm,
            client_id=client_id,
            client_secret=client_secret,
            timeout=timeout,
        )
        self._realm = realm
        self._app_client_id = app_client_id
        self._console = (console_url or base_url).rstrip("/")
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._app_client_uuid: str | None = None
        self._snapshot: tuple[float, list[DirectoryUser]] | None = None

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> KeycloakDirectory:
        """From :class:`portal.settings.Settings`: internal URL for calls, public one for links."""
        return cls(
            base_url=settings.keycloak_internal_url or settings.keycloak_url,
            realm=settings.realm,
            client_id=settings.admin_client_id,
            client_secret=settings.admin_client_secret,
            app_client_id=settings.client_id,
            console_url=settings.keycloak_url,
            **options,
        )

    def _app_client(self) -> str:
        """The internal id of the ``dash`` client (stable, so kept once found).

        The service account may not view clients (viewing one shows its secret), so the
        id is read from the realm's default role, which carries the client's ``viewer``
        role for every user (the contract).
        """
        if self._app_client_uuid is None:
            realm = self._api.ask(lambda kc: kc.get_realm(self._realm)) or {}
            default_role = (realm.get("defaultRole") or {}).get("id")
            children = (
                self._api.ask(lambda kc: kc.get_role_composites_by_id(default_role)) or []
                if default_role
                else []
            )
            found = [
                str(child["containerId"])
                for child in children
                if child.get("clientRole") and child.get("name") == Role.VIEWER.value
            ]
            if len(found) != 1:
                raise DirectoryUnavailable(
                    f"The realm's default role does not carry the {Role.VIEWER.value!r} role"
                    f" of client {self._app_client_id!r}."
                )
            self._app_client_uuid = found[0]
        return self._app_client_uuid

    def _user_rep(self, username: str) -> dict[str, Any]:
        name = normalize_username(username)
        query = {"username": name, "exact": "true"}
        for rep in self._api.ask(lambda kc: kc.get_users(query)) or []:
            if normalize_username(str(rep.get("username", ""))) == name:
                return rep
        raise UnknownUser(f"No user named {name!r} in realm {self._realm!r}.")

    # -- users ------------------------------------------------------------------------

    def list_users(
        self, search: str | None = None, *, first: int = 0, max: int = 100
    ) -> list[DirectoryUser]:
        """One page of users, without roles and groups (see :meth:`users_with_roles_and_groups`)."""
        query: dict[str, Any] = {"first": first, "max": max, "briefRepresentation": "true"}
        if search:
            query["search"] = search
        return [
            user_from_rep(rep)
            for rep in self._api.ask(lambda kc: kc.get_users(query)) or []
            if is_person(rep)
        ]

    def user_effective_roles(self, username: str) -> frozenset[str]:
        """The user's effective ``dash`` client roles (Keycloak expands composites and groups)."""
        return self._roles_of(str(self._user_rep(username)["id"]))

    def _roles_of(self, user_id: str) -> frozenset[str]:
        client = self._app_client()
        found = self._api.ask(
            lambda kc: kc.get_composite_client_roles_of_user(
                quote(user_id, safe=""), client, brief_representation=True
            )
        )
        return frozenset(str(r["name"]) for r in found or [])

    def is_licensed(self, username: str) -> bool:
        """Whether the user holds a seat (``roles.SEAT``, however it was granted)."""
        try:
            return SEAT.value in self.user_effective_roles(username)
        except UnknownUser:
            return False

    def licensed_usernames(self) -> set[str]:
        """Every holder of a seat (``roles.SEAT``): the seats in use."""
        return {u.username for u in self.users_with_roles_and_groups() if SEAT.value in u.roles}

    def users_with_roles_and_groups(self) -> list[DirectoryUser]:
        """Every user with effective ``dash`` roles and group paths.

        Keycloak computes each user's effective roles (direct, composite, through groups
        and parent groups): one call per user, because the role-member lists need the
        right to view the ``dash`` client, which includes reading its secret. Group
        paths come from each group's member list. Kept for ``cache_seconds`` so one page
        render costs one snapshot.
        """
        with self._lock:
            if self._snapshot and self._snapshot[0] > time.monotonic():
                return list(self._snapshot[1])
        brief = {"briefRepresentation": "true"}  # copied per call: paging writes into it
        everyone = self._api.ask(lambda kc: kc.get_users(dict(brief))) or []
        reps = [rep for rep in everyone if is_person(rep)]
        memberships: dict[str, set[str]] = {str(rep["id"]): set() for rep in reps}
        for group_id, path in self._group_tree().items():
            members = self._api.ask(lambda kc, g=group_id: kc.get_group_members(g, dict(brief)))
            for member in members or []:
                memberships.setdefault(str(member["id"]), set()).add(path)
        users = [
            user_from_rep(
                rep,
                roles=self._roles_of(str(rep["id"])),
                groups=frozenset(memberships.get(str(rep["id"]), ())),
            )
            for rep in reps
        ]
        users.sort(key=lambda u: u.username)
        with self._lock:
            self._snapshot = (time.monotonic() + self._cache_seconds, users)
        return list(users)

    # -- groups -----------------------------------------------------------------------

    def _group_tree(self) -> dict[str, str]:
        """Every group's id and full path (python-keycloak fetches each level's subgroups)."""
        found: dict[str, str] = {}
        stack = list(self._api.ask(lambda kc: kc.get_groups(full_hierarchy=True)) or [])
        while stack:
            rep = stack.pop()
            found[str(rep["id"])] = normalize_group(str(rep.get("path") or rep.get("name", "")))
            stack.extend(rep.get("subGroups") or [])
        return found

    def suggest_users(self, text: str, *, limit: int = SUGGEST_LIMIT) -> list[str]:
        """Usernames for the viewer and co-owner pickers: whose username or display name
        (first name, last name, or both) starts with ``text``; never by email (the rule:
        :mod:`.suggestions`). Keycloak's prefix search finds the candidates, which also
        match emails, so the rule is applied to what it answers.
        """
        needle = searchable(text)
        if needle is None:
            return []
        found = {
            u.username
            for u in self.list_users(needle, max=limit * CANDIDATES_PER_SUGGESTION)
            if names_start_with(needle, u.username, u.first_name, u.last_name, u.display_name)
        }
        return sorted(found)[:limit]

    def suggest_groups(self, text: str, *, limit: int = SUGGEST_LIMIT) -> list[str]:
        """Full group paths containing ``text`` (as long as for users), at most ``limit``."""
        needle = searchable(text.strip().lstrip("/"))
        if needle is None:
            return []
        paths = sorted(self._group_tree().values())
        return [p for p in paths if needle in p.lower()][:limit]

    def unknown_principals(
        self, users: Iterable[str], groups: Iterable[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The usernames and group paths (as given) that the realm has no user or group for.

        A user of an external identity provider exists in Keycloak only once they have
        signed in, so an unknown user may simply not have signed in yet.
        """
        users, groups = sorted(set(users)), sorted(set(groups))
        known = set(self._group_tree().values()) if groups else set()
        missing_users = set()
        for name in users:
            try:
                self._user_rep(name)
            except UnknownUser:
                missing_users.add(name)
        return frozenset(missing_users), frozenset(
            g for g in groups if normalize_group(g) not in known
        )

    # -- events and sessions ----------------------------------------------------------

    def login_events(self, days: int = 30) -> list[LoginEvent]:
        """Saved ``LOGIN`` events of the last ``days`` days, newest first."""
        query = {
            "type": "LOGIN",
            "dateFrom": (date.today() - timedelta(days=days)).isoformat(),
            "first": 0,
            "max": EVENT_LIMIT,
        }
        events = []
        for rep in self._api.ask(lambda kc: kc.get_events(query)) or []:
            details = rep.get("details") or {}
            name = details.get("username")
            events.append(
                LoginEvent(
                    time=datetime.fromtimestamp(int(rep.get("time", 0)) / 1000, UTC),
                    username=normalize_username(name) if name else None,
                    user_id=rep.get("userId"),
                    client_id=rep.get("clientId"),
                    ip_address=rep.get("ipAddress"),
                )
            )
        return events

    def user_id(self, username: str) -> str:
        """The user's id in Keycloak: the ``sub`` of their tokens."""
        return str(self._user_rep(username)["id"])

    def session_ids(self, user_id: str) -> frozenset[str] | None:
        """Ids of the user's live Keycloak sessions; ``None`` when the user is gone."""
        found = self._api.ask(lambda kc: kc.get_sessions(quote(user_id, safe="")))
        return None if found is None else frozenset(str(s["id"]) for s in found)

    def user_admin_events(self, *, newest: int = 100) -> list[dict[str, Any]]:
        """The newest admin events on users (changes, deletions, sign-outs), newest first."""
        query = {
            "resourceTypes": "USER",
            "operationTypes": ["UPDATE", "DELETE", "ACTION"],
            "first": 0,
            "max": newest,
        }
        return list(self._api.ask(lambda kc: kc.get_admin_events(query)) or [])

    def console_url(self, username: str | None = None, *, user_id: str | None = None) -> str:
        """The admin console's page for the realm's users, or for one user when known."""
        base = f"{self._console}/admin/master/console/#/{quote(self._realm, safe='')}/users"
        if user_id is None and username:
            try:
                user_id = str(self._user_rep(username)["id"])
            except DirectoryError:
                return base
        return f"{base}/{quote(user_id, safe='')}/settings" if user_id else base

    def console_home(self, section: str = "") -> str:
        """A page of the realm in the admin console: ``groups``, ``clients``, ``events``..."""
        return f"{self._console}/admin/master/console/#/{quote(self._realm, safe='')}/{section}"
