"""The shape of a Dash callback request: checked before Dash sees it, and built for tools.

Dash's dispatcher trusts the body of /_dash-update-component: a list where an object
belongs, or an unknown output, ends in a KeyError or TypeError deep inside it. The
guard checks the shape first so bad input gets a clear 400, never a 500. Tests and
benchmarks build bodies the way Dash's renderer does with ``callback_body``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from portal.errors import ApiError

__all__ = ["callback_body", "check_callback_body"]


# Parsed JSON holds only dict and list: concrete isinstance checks are several times
# cheaper than the Mapping ABC, and this runs on every callback.
def _is_dependency(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str | dict)
        and isinstance(item.get("property"), str)
    )


def _are_dependencies(items: Any) -> bool:
    # Pattern-matching inputs (ALL, ALLSMALLER) arrive as lists of dependencies. Plain
    # loops: generator expressions under all() cost more than the checks themselves.
    if not isinstance(items, list):
        return False
    for item in items:
        if isinstance(item, list):
            for entry in item:
                if not _is_dependency(entry):
                    return False
        elif not _is_dependency(item):
            return False
    return True


def _bad(message: str) -> ApiError:
    return ApiError(400, f"Malformed callback request: {message}")


def check_callback_body(body: Any, callback_map: Mapping[str, Any]) -> None:
    """Raise ApiError(400) unless ``body`` is a well-formed call of a known callback."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        raise _bad("unknown output")
    outputs = body.get("outputs")
    if not (_is_dependency(outputs) or _are_dependencies(outputs)):
        raise _bad("'outputs' must describe the outputs")
    for key in ("inputs", "state"):
        if not _are_dependencies(body.get(key, [])):
            raise _bad(f"'{key}' must be a list of {{id, property, value}}")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list):
        raise _bad("'changedPropIds' must be a list of strings")
    for prop_id in changed:
        if not isinstance(prop_id, str):
            raise _bad("'changedPropIds' must be a list of strings")


def callback_body(
    callback_map: Mapping[str, Any],
    output: str,
    values: Mapping[str, Any],
    *,
    changed: Sequence[str] = (),
) -> dict[str, Any]:
    """The body Dash's renderer posts for ``output``, with inputs from ``values``.

    ``values`` maps "component-id.property" to a value; inputs it does not name are None.
    """
    spec = callback_map[output]["inputs"]
    return {
        "output": output,
        "outputs": [
            dict(zip(("id", "property"), part.split("."), strict=True))
            for part in output.strip(".").split("...")
        ],
        "inputs": [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in spec],
        "changedPropIds": list(changed),
        "state": [],
    }
