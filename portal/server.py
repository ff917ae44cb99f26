"""The portal's Flask class: Flask itself, minus costs it pays on every request.

Each Dash callback is a request, so per-request work in the framework counts against
every app the portal serves (``make bench`` measures it against the bare app): parsing
the same Cookie header again, metering a body whose length the server already bounds,
two context lookups for the body limit, and asking ``inspect`` whether each hook is
``async``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, current_app
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.http import parse_cookie
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_content_length

__all__ = ["PortalFlask", "PortalRequest"]


@functools.lru_cache(maxsize=1024)
def _parse_cookie_header(header: str) -> ImmutableMultiDict[str, str]:
    # A pure function of the header, and the result is immutable: safe to share.
    return parse_cookie(header, cls=ImmutableMultiDict)


class PortalRequest(Request):
    """Flask's request; cookies parsed once per distinct header, and a body declared
    within ``MAX_CONTENT_LENGTH`` read in one go."""

    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        # A browser sends the same Cookie header with every Dash callback, and both the
        # session and Dash read it. The server joins repeated Cookie headers into one
        # HTTP_COOKIE, which is all werkzeug's own parse reads too.
        return _parse_cookie_header(self.environ.get("HTTP_COOKIE", ""))

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None:  # set for this request (Flask 3.1)
            return self._max_content_length
        try:
            # One proxy lookup (Flask's property makes two, a microsecond each).
            limit = current_app._get_current_object().config["MAX_CONTENT_LENGTH"]
        except RuntimeError:  # outside an app context: werkzeug's default
            return super().max_content_length
        # The server stops the body at Content-Length, so a declared length within the
        # limit is already enforced; metering every read through werkzeug's
        # LimitedStream would cost each callback more than the rest of the guard.
        # Bodies without a length (chunked), or over the limit, keep the limit (413).
        length = get_content_length(self.environ)
        if limit is not None and length is not None and length <= limit:
            return None
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


#: Whether a hook or view is ``async def`` does not change: ask ``inspect`` once each.
_is_coroutine_function = functools.lru_cache(maxsize=4096)(inspect.iscoroutinefunction)


class PortalFlask(Flask):
    """Flask with :class:`PortalRequest`, and the sync/async check of each hook cached."""

    request_class = PortalRequest

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            is_async = _is_coroutine_function(func)
        except TypeError:  # an unhashable callable: ask every time
            is_async = inspect.iscoroutinefunction(func)
        return self.async_to_sync(func) if is_async else func
