"""roles.py in the app library: one permission table for the platform and the apps.

The platform's ``roles.py`` ships in the ``dash-platform-appkit`` distribution as
``dash_appkit.roles`` (``appkit/dash_appkit/roles.py`` is a link to it), so an app, which
runs in its own environment without the portal, checks permissions with the same table.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path

from dash_appkit import names, roles

from portal.hosting.builds import build_wheel, default_python

ROOT = Path(__file__).resolve().parents[2]
UV = str(Path(sys.executable).parent / "uv")


def test_the_library_ships_the_platforms_roles_py():
    assert Path(roles.__file__).resolve() == ROOT / "roles.py"
    assert names.normalize_username is roles.normalize_username
    assert names.normalize_group is roles.normalize_group
    assert names.group_covers is roles.group_covers


def test_roles_py_needs_only_the_standard_library():
    # It is imported inside every app's environment: nothing of the portal, nothing to install.
    tree = ast.parse((ROOT / "roles.py").read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported


def test_the_wheel_apps_install_holds_roles_and_the_rls_package(tmp_path):
    wheel = build_wheel(ROOT / "appkit", tmp_path, uv=UV, python=default_python())
    with zipfile.ZipFile(wheel) as built:
        files = set(built.namelist())
        assert built.read("dash_appkit/roles.py") == (ROOT / "roles.py").read_bytes()
    modules = ("__init__", "conditions", "frames", "normal_form", "policy", "sql")
    assert {f"dash_appkit/rls/{name}.py" for name in modules} <= files
