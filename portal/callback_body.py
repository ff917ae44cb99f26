"""Dash callback request bodies, built the way Dash's renderer builds them (tests, benches).

The check of their shape runs inside every app: ``dash_appkit.callback_check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["callback_body"]


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
