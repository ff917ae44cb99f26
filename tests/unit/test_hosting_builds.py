"""Builds with the real uv: keys, reuse, failures that leave nothing, the appkit wheel."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from portal.hosting.builds import (
    BuildError,
    EnvironmentBuilder,
    build_wheel,
    default_python,
    normalise_requirements,
)

UV = str(Path(sys.executable).parent / "uv")
SIX = "six==1.16.0\n"


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> EnvironmentBuilder:
    root = tmp_path_factory.mktemp("builds")
    (root / "wheels").mkdir()
    return EnvironmentBuilder(
        root / "envs",
        uv=UV,
        python=default_python(),
        platform_requirements=[],
        find_links=[root / "wheels"],
    )


def test_default_python_is_readable_by_everyone() -> None:
    python = Path(default_python())
    assert python.resolve().stat().st_mode & stat.S_IXOTH
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == str(sys.version_info[:2])


def test_key_ignores_order_comments_and_blanks(builder: EnvironmentBuilder) -> None:
    a = builder.key("six==1.16.0\nidna==3.10\n")
    b = builder.key("# what we need\n\nidna==3.10  # inline\n  six==1.16.0\n")
    assert a == b
    assert len(a) == 20 and int(a, 16) >= 0
    assert builder.key("six==1.16.0\n") != a


def test_key_follows_the_wheels_offered(builder: EnvironmentBuilder) -> None:
    before = builder.key(SIX)
    wheel = builder.find_links[0] / "extra-1.0-py3-none-any.whl"
    wheel.write_bytes(b"one")
    try:
        changed = builder.key(SIX)
        wheel.write_bytes(b"two")
        assert len({before, changed, builder.key(SIX)}) == 3
    finally:
        wheel.unlink()
    assert builder.key(SIX) == before


@pytest.mark.parametrize(
    "line",
    [
        "-r /etc/shadow",
        "--index-url https://example.invalid/simple",
        "-e .",
        "pkg @ file:///etc/passwd",
        "./local/folder",
        "not a requirement!",
    ],
)
def test_refused_requirement_lines(line: str) -> None:
    with pytest.raises(BuildError, match="line 2"):
        normalise_requirements(f"six\n{line}\n")


def test_build_once_then_reuse(builder: EnvironmentBuilder) -> None:
    log = io.StringIO()
    started = time.monotonic()
    venv = builder.ensure(SIX, log)
    cold = time.monotonic() - started
    assert venv == builder.envs_dir / builder.key(SIX)
    assert "six==1.16.0" in log.getvalue()  # uv's own output reached the log
    assert (venv / ".complete").exists()
    assert stat.S_IMODE(venv.stat().st_mode) == 0o755
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import six; print(six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1.16.0"

    again = io.StringIO()
    started = time.monotonic()
    assert builder.ensure("# same set\n\n" + SIX, again) == venv
    warm = time.monotonic() - started
    assert "reusing" in again.getvalue()
    assert warm < 0.5 and warm < cold, (cold, warm)


def test_different_requirements_get_their_own_env(builder: EnvironmentBuilder) -> None:
    empty = builder.ensure("# nothing\n", io.StringIO())
    assert empty != builder.ensure(SIX, io.StringIO())
    assert (empty / ".complete").exists()
    assert not list((empty / "lib").glob("python*/site-packages/six.py"))


def test_concurrent_ensures_build_once(builder: EnvironmentBuilder) -> None:
    reqs = "six==1.16.0\n# concurrent\n"
    logs = [io.StringIO(), io.StringIO()]
    threads = [threading.Thread(target=builder.ensure, args=(reqs, log)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    said = sorted("reusing" in log.getvalue() for log in logs)
    assert said in ([False, True], [True, True])  # never two builds at once


def test_failed_build_leaves_nothing(builder: EnvironmentBuilder) -> None:
    bad = "this-package-does-not-exist-xyz==1\n"
    log = io.StringIO()
    with pytest.raises(BuildError) as caught:
        builder.ensure(bad, log)
    assert "this-package-does-not-exist-xyz" in str(caught.value)
    assert "uv pip failed" in str(caught.value)
    assert "this-package-does-not-exist-xyz" in log.getvalue()
    assert not (builder.envs_dir / builder.key(bad)).exists()


def test_build_wheel(tmp_path: Path) -> None:
    src = tmp_path / "tinypkg"
    (src / "tinypkg").mkdir(parents=True)
    (src / "tinypkg" / "__init__.py").write_text("X = 1\n")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinypkg"\nversion = "0.1"\n'
    )
    before = sorted(p.name for p in src.rglob("*"))
    wheel = build_wheel(src, tmp_path / "wheels", uv=UV, python=default_python())
    assert wheel.parent == tmp_path / "wheels" and wheel.name.startswith("tinypkg-0.1-")
    assert "tinypkg/__init__.py" in zipfile.ZipFile(wheel).namelist()
    assert sorted(p.name for p in src.rglob("*")) == before  # no build/ or egg-info left
    assert [p.name for p in wheel.parent.iterdir()] == [wheel.name]
    with pytest.raises(BuildError, match="uv build"):
        build_wheel(tmp_path / "wheels", tmp_path / "out", uv=UV)
