"""App thumbnails: images uploaded to the platform, checked, stored and served by it.

A thumbnail used to be any URL, so a tracking pixel loaded for every viewer of the
portal, admins included. Now it is only ever an upload: at most ``MAX_BYTES``, decoded
by Pillow as a PNG, JPEG, GIF or WebP (the content decides, not the name or the
Content-Type sent), at most ``MAX_SIDE`` pixels a side. It is stored under the SHA-256
of its bytes in ``<data_dir>/thumbnails`` and served from /thumbnails/<sha256>.<ext>
with the type of what was decoded, ``nosniff`` and a policy that runs nothing, so the
portal's ``img-src 'self'`` allows exactly these images.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory
from PIL import Image, UnidentifiedImageError

from portal import registry
from portal.errors import ApiError
from portal.identity import User
from portal.registry import AppRecord
from portal.services import services
from roles import can_change

__all__ = ["MAX_BYTES", "MAX_SIDE", "ThumbnailError", "bp", "set_thumbnail", "store_image"]

MAX_BYTES = 1024 * 1024
MAX_SIDE = 2048
#: Pillow's name of each accepted format: the file extension and the type it is served as.
FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
_MIMETYPES = dict(FORMATS.values())
_NAME = re.compile(r"[0-9a-f]{64}\.(png|jpg|gif|webp)")

bp = Blueprint("thumbnails", __name__)


class ThumbnailError(ApiError):
    """An upload that is not an acceptable image (413 too large, 422 not an image)."""


def _extension_of(data: bytes) -> str:
    """The extension of the image ``data`` decodes as; ThumbnailError if it does not."""
    if len(data) > MAX_BYTES:
        raise ThumbnailError(413, f"A thumbnail is at most {MAX_BYTES // 1024} KiB.")
    not_an_image = ThumbnailError(422, "A thumbnail must be a PNG, JPEG, GIF or WebP image.")
    if not data:
        raise not_an_image
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise ThumbnailError(422, f"A thumbnail is at most {MAX_SIDE}x{MAX_SIDE} pixels.")
            image.load()  # decodes it: a truncated or forged file fails here
            return FORMATS[image.format or ""][0]
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
        raise not_an_image from error


def _folder() -> Path:
    return services().settings.layout.thumbnails_dir


def store_image(data: bytes) -> str:
    """Check and store an uploaded image; its path as the portal serves it."""
    extension = _extension_of(data)
    name = f"{hashlib.sha256(data).hexdigest()}.{extension}"
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as staged:
            staged.write(data)
        os.chmod(staged.name, 0o644)
        os.replace(staged.name, target)
    return f"/thumbnails/{name}"


def set_thumbnail(slug: str, data: bytes | None, *, actor: User) -> AppRecord:
    """Give app ``slug`` the uploaded image ``data`` as its thumbnail (``None`` removes it).

    404 for an unknown app and 403 without the right to edit its portal settings, both
    before anything is stored; 413/422 for a bad image.
    """
    record = registry.get_app(slug)
    if record is None:
        raise ApiError(404, f"No app {slug!r}.")
    if not can_change(actor, "thumbnail", record):
        raise ApiError(403, f"You may not change the thumbnail of {slug!r}.")
    url = store_image(data) if data is not None else None
    return registry.update_app(slug, {"thumbnail": url}, actor=actor)


@bp.get("/thumbnails/<name>")
def serve(name: str) -> Response:
    """An uploaded image, as the type it decoded as; cacheable forever (named by content)."""
    match = _NAME.fullmatch(name)
    if match is None:
        abort(404)
    response = send_from_directory(
        _folder(), name, mimetype=_MIMETYPES[match.group(1)], max_age=365 * 24 * 3600
    )
    # Opened on its own, it is an image and nothing else.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
