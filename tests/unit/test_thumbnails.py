"""Thumbnails are uploads the platform checks and hosts, never outside URLs (issue 12, #8).

Through the API (``PUT/DELETE /api/apps/<slug>/thumbnail``) and the App Manager's form:
size limit, the real type decided by decoding the content, served with that type,
nosniff and a policy that runs nothing. Values set before (outside URLs) are not shown.
"""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import update

from portal import registry
from portal.extensions import db
from portal.registry.models import App
from portal.registry.store import bump_version
from portal.services import services
from portal.thumbnails import MAX_BYTES


def image(fmt: str = "PNG", size: tuple[int, int] = (32, 16), colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def put(app: Flask, who: str, body: bytes, slug: str = "sales", content_type: str = "image/png"):
    return app.test_client().put(
        f"/api/apps/{slug}/thumbnail",
        data=body,
        headers={"Content-Type": content_type},
        user=who,
    )


def stored(app: Flask) -> list[str]:
    folder = services(app).settings.data_dir / "thumbnails"
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def test_an_uploaded_png_becomes_the_thumbnail_and_is_served_as_png(app: Flask) -> None:
    png = image()
    answer = put(app, "alice", png)
    assert answer.status_code == 200, answer.json
    url = answer.json["thumbnail"]
    assert url == f"/thumbnails/{hashlib.sha256(png).hexdigest()}.png"
    served = app.test_client().get(url)
    assert served.status_code == 200 and served.get_data() == png
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "max-age" in served.headers["Cache-Control"]  # named by content: never changes
    page = app.test_client().get("/", user="bob").get_data(as_text=True)
    assert f'<img src="{url}"' in page


@pytest.mark.parametrize(("fmt", "extension"), [("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp")])
def test_other_image_types_keep_their_real_type(app: Flask, fmt: str, extension: str) -> None:
    # Sent as image/png: the content decides, not what the caller says.
    answer = put(app, "alice", image(fmt))
    assert answer.status_code == 200
    assert answer.json["thumbnail"].endswith(f".{extension}")
    served = app.test_client().get(answer.json["thumbnail"])
    assert served.mimetype == f"image/{'jpeg' if extension == 'jpg' else extension}"


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 422),
        (b"<html><script>alert(document.cookie)</script></html>", 422),
        (SVG, 422),
        (b"GIF89a<script>alert(1)</script>", 422),  # a GIF's magic, then HTML
        (image()[:60], 422),  # a truncated PNG
        (image(size=(3000, 10)), 422),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_BYTES, 413),
    ],
    ids=["empty", "html", "svg", "gif-magic-html", "truncated", "too-wide", "too-large"],
)
def test_what_is_not_an_acceptable_image_is_refused(app: Flask, body: bytes, status: int) -> None:
    answer = put(app, "alice", body)
    assert answer.status_code == status
    assert answer.json["error"]
    assert stored(app) == []
    assert registry_thumbnail(app) is None


def registry_thumbnail(app: Flask) -> str | None:
    with app.app_context():
        record = registry.get_app("sales")
        assert record is not None
        return record.thumbnail


def test_only_those_who_edit_the_portal_settings_upload(app: Flask) -> None:
    assert put(app, "bob", image()).status_code == 403  # a viewer of sales
    assert put(app, "erin", image()).status_code == 403  # manages other apps only
    assert put(app, "alice", image(), slug="nope").status_code == 404
    assert stored(app) == []  # nothing is stored before the permission is checked
    assert put(app, "admin", image()).status_code == 200


def test_delete_removes_the_thumbnail(app: Flask) -> None:
    put(app, "alice", image())
    answer = app.test_client().delete("/api/apps/sales/thumbnail", user="alice")
    assert answer.status_code == 200 and answer.json["thumbnail"] is None


def test_patch_accepts_only_an_uploaded_image(app: Flask) -> None:
    uploaded = put(app, "admin", image(colour="red"), slug="hello").json["thumbnail"]
    client = app.test_client()
    for outside in ("https://tracker.example/p.gif", "/\\evil.example/x.png", "/static/x.png"):
        answer = client.patch("/api/apps/sales", json={"thumbnail": outside}, user="alice")
        assert answer.status_code == 422, outside
    answer = client.patch("/api/apps/sales", json={"thumbnail": uploaded}, user="alice")
    assert answer.status_code == 200 and answer.json["thumbnail"] == uploaded


def test_an_outside_url_stored_before_is_not_shown(app: Flask) -> None:
    with app.app_context():
        db.session.execute(
            update(App).where(App.slug == "sales").values(thumbnail="https://tracker.example/p.gif")
        )
        bump_version()  # as every registry write does, so the cached record is dropped
        db.session.commit()
    page = app.test_client().get("/", user="bob").get_data(as_text=True)
    assert "tracker.example" not in page
    listing = app.test_client().get("/api/apps", user="bob").json
    assert {a["slug"]: a["thumbnail"] for a in listing["apps"]}["sales"] is None


def test_only_thumbnail_names_are_served(app: Flask) -> None:
    client = app.test_client()
    for path in ("/thumbnails/secret_key", "/thumbnails/..%2Fsecret_key", "/thumbnails/x.png"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/thumbnails/{'0' * 64}.png").status_code == 404


def test_the_app_manager_form_uploads_and_removes(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/manager/apps/sales", user="alice").get_data(as_text=True)
    assert 'action="/manager/apps/sales/thumbnail"' in page and 'type="file"' in page
    answer = client.post(
        "/manager/apps/sales/thumbnail",
        data={"image": (io.BytesIO(image()), "card.png")},
        user="alice",
        follow_redirects=True,
    )
    assert answer.status_code == 200 and "The thumbnail is saved." in answer.get_data(as_text=True)
    assert re.fullmatch(r"/thumbnails/[0-9a-f]{64}\.png", registry_thumbnail(app) or "")
    answer = client.post(
        "/manager/apps/sales/thumbnail",
        data={"image": (io.BytesIO(SVG), "card.png")},
        user="alice",
        follow_redirects=True,
    )
    assert "must be a PNG, JPEG, GIF or WebP" in answer.get_data(as_text=True)
    client.post("/manager/apps/sales/thumbnail", data={"remove": "1"}, user="alice")
    assert registry_thumbnail(app) is None
    bob = client.post(
        "/manager/apps/sales/thumbnail",
        data={"image": (io.BytesIO(image()), "card.png")},
        user="bob",
    )
    assert bob.status_code == 403
