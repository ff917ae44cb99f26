"""Deploying the test bundles of tests/apps/ through the platform's API, and calling them.

Everything goes through the front door as a client would: the deployment API with the
session cookie plus ``X-CSRF-Token``, and the apps' own Dash endpoints under /apps/<slug>/.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

__all__ = [
    "APPS",
    "Dependency",
    "callback_body",
    "component",
    "create_app",
    "csrf_headers",
    "deploy",
    "deploy_app",
    "deployment_log",
    "multi_output_body",
    "outputs_of",
    "pack",
    "set_access",
    "stringify_id",
    "texts",
]

#: The test bundles: one folder per app, each runnable on its own with `python app.py`.
APPS = Path(__file__).resolve().parent / "apps"

#: (component id, property, value); a list of them stands for an ALL/ALLSMALLER input.
Dependency = tuple[str | dict[str, Any], str, Any]


def _clean(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in Path(member.name).parts or member.name.endswith(".pyc"):
        return None
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def pack(directory: Path) -> bytes:
    """The folder's contents as a tar.gz, paths relative to the folder (no top folder)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() or path.is_dir():
                arcname = path.relative_to(directory).as_posix()
                archive.add(path, arcname=arcname, recursive=False, filter=_clean)
    return buffer.getvalue()


def csrf_headers(session: requests.Session, base: str) -> dict[str, str]:
    me = session.get(f"{base}/api/me", timeout=30)
    assert me.status_code == 200, f"/api/me answered {me.status_code}: {me.text[:300]}"
    return {"X-CSRF-Token": me.json()["csrf_token"]}


def create_app(session: requests.Session, base: str, slug: str, title: str) -> dict[str, Any]:
    """Create the app; an existing one is fine when the caller owns it."""
    answer = session.post(
        f"{base}/api/apps",
        json={"slug": slug, "title": title},
        headers=csrf_headers(session, base),
        timeout=30,
    )
    if answer.status_code == 409:
        me = session.get(f"{base}/api/me", timeout=30).json()
        existing = session.get(f"{base}/api/apps/{slug}", timeout=30)
        assert existing.status_code == 200, f"{slug} exists and is not ours: {existing.text}"
        assert existing.json()["owner"] == me["username"], existing.json()
        return existing.json()
    assert answer.status_code == 201, f"POST /api/apps {slug}: {answer.status_code} {answer.text}"
    return answer.json()


def set_access(
    session: requests.Session,
    base: str,
    slug: str,
    access: str = "authenticated",
    **settings: Any,
) -> dict[str, Any]:
    """PATCH the app's access level (and any other settings given, e.g. ``viewers=``)."""
    answer = session.patch(
        f"{base}/api/apps/{slug}",
        json={"access": access, **settings},
        headers=csrf_headers(session, base),
        timeout=30,
    )
    assert answer.status_code == 200, f"PATCH {slug}: {answer.status_code} {answer.text}"
    return answer.json()


def deployment_log(session: requests.Session, base: str, slug: str, deployment_id: Any) -> str:
    answer = session.get(f"{base}/api/apps/{slug}/deployments/{deployment_id}/log", timeout=30)
    return f"[log answered {answer.status_code}]\n{answer.text[-6000:]}"


def deploy(
    session: requests.Session,
    base: str,
    slug: str,
    directory: Path,
    *,
    entrypoint: str = "app:app",
    timeout: float = 240,
    expect: str | None = "active",
) -> dict[str, Any]:
    """Upload ``directory`` as a new deployment of ``slug`` and wait until it is built.

    Returns the deployment's final JSON; asserts its status is ``expect`` (unless None),
    with the build log in the message.
    """
    answer = session.post(
        f"{base}/api/apps/{slug}/deployments",
        params={"entrypoint": entrypoint},
        data=pack(directory),
        headers={"Content-Type": "application/gzip", **csrf_headers(session, base)},
        timeout=60,
    )
    assert answer.status_code == 202, f"deploy {slug}: {answer.status_code} {answer.text}"
    started = answer.json()
    assert started["status"] == "building", started
    url = f"{base}/api/apps/{slug}/deployments/{started['id']}"
    deadline = time.monotonic() + timeout
    while True:
        state = session.get(url, timeout=30)
        assert state.status_code == 200, f"GET {url}: {state.status_code} {state.text}"
        final = state.json()
        if final["status"] != "building":
            break
        if time.monotonic() > deadline:
            log = deployment_log(session, base, slug, started["id"])
            raise AssertionError(f"{slug} still building after {timeout:.0f} s\n{log}")
        time.sleep(1)
    if expect is not None and final["status"] != expect:
        log = deployment_log(session, base, slug, started["id"])
        raise AssertionError(f"{slug} ended {final} (expected {expect})\n{log}")
    return final


def deploy_app(session: requests.Session, base: str, slug: str, app: str) -> dict[str, Any]:
    """Create ``slug`` (if needed) and deploy tests/apps/<app> to it; it must go active."""
    create_app(session, base, slug, f"Test app {app}")
    return deploy(session, base, slug, APPS / app)


def stringify_id(component_id: str | dict[str, Any]) -> str:
    """Dash's string form of an id (dict ids: sorted keys, wildcards as ["MATCH"])."""
    if isinstance(component_id, str):
        return component_id
    parts = (f"{json.dumps(key)}:{json.dumps(component_id[key])}" for key in sorted(component_id))
    return "{" + ",".join(parts) + "}"


def _dependencies(items: Sequence[Dependency | Sequence[Dependency]]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, list):
            out.append([{"id": i, "property": p, "value": v} for i, p, v in item])
        else:
            component_id, prop, value = item  # type: ignore[misc]
            out.append({"id": component_id, "property": prop, "value": value})
    return out


def _changed(inputs: Sequence[Dependency | Sequence[Dependency]]) -> list[str]:
    for item in inputs:
        if not isinstance(item, list):
            return [f"{stringify_id(item[0])}.{item[1]}"]  # type: ignore[arg-type]
    return []


def callback_body(
    output_id: str | dict[str, Any],
    output_prop: str,
    inputs: Sequence[Dependency | Sequence[Dependency]],
    *,
    state: Sequence[Dependency | Sequence[Dependency]] = (),
    instance_id: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body Dash's renderer posts to _dash-update-component for a one-output callback.

    For a MATCH output, ``output_id`` is the wildcard id as registered
    (``{"type": "x", "index": ["MATCH"]}``) and ``instance_id`` the concrete one.
    The first plain input is the one reported as changed.
    """
    return {
        "output": f"{stringify_id(output_id)}.{output_prop}",
        "outputs": {"id": instance_id or output_id, "property": output_prop},
        "inputs": _dependencies(inputs),
        "changedPropIds": _changed(inputs),
        "state": _dependencies(state),
    }


def multi_output_body(
    outputs: Sequence[tuple[str, str]],
    inputs: Sequence[Dependency | Sequence[Dependency]],
    *,
    state: Sequence[Dependency | Sequence[Dependency]] = (),
) -> dict[str, Any]:
    """The body for a callback with several (plain-id) outputs."""
    key = "...".join(f"{component_id}.{prop}" for component_id, prop in outputs)
    return {
        "output": f"..{key}..",
        "outputs": [{"id": component_id, "property": prop} for component_id, prop in outputs],
        "inputs": _dependencies(inputs),
        "changedPropIds": _changed(inputs),
        "state": _dependencies(state),
    }


def outputs_of(answer: requests.Response) -> dict[str, Any]:
    """The ``response`` part of a 200 callback answer: {stringified id: {prop: value}}."""
    assert answer.status_code == 200, f"callback answered {answer.status_code}: {answer.text[:500]}"
    return answer.json()["response"]


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for child in node:
            yield from _walk(child)
    elif isinstance(node, dict):
        if "props" in node:
            yield node
            yield from _walk(node["props"].get("children"))
        else:
            for value in node.values():
                yield from _walk(value)


def component(tree: Any, component_id: str | dict[str, Any]) -> dict[str, Any]:
    """The props of the component with ``component_id`` in a layout (JSON) tree."""
    for node in _walk(tree):
        if node["props"].get("id") == component_id:
            return node["props"]
    raise AssertionError(f"no component {component_id!r} in {json.dumps(tree)[:500]}")


def texts(tree: Any) -> list[str]:
    """Every string child in a layout tree, in document order."""
    found: list[str] = []
    for node in _walk(tree if isinstance(tree, list | dict) else []):
        children = node["props"].get("children")
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, str | int | float) and not isinstance(child, bool):
                found.append(str(child))
    if isinstance(tree, str):
        found.append(tree)
    return found
