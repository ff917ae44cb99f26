"""Builds: one virtual environment per distinct requirements set, made by uv, built once.

An environment is keyed by a hash of what goes into it (the requirement lines, the Python,
the platform's own requirements and the wheels offered to uv), so every app version with
the same requirements shares one venv. Venvs are not relocatable, so each is built at its
final path under an exclusive lock and marked complete only when uv succeeded.
"""

from __future__ import annotations

import collections
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from packaging.requirements import InvalidRequirement, Requirement

from .isolation import BUILDER_UID, Isolation, wrap_build

COMPLETE = ".complete"
_COMMENT = re.compile(r"(^|\s)#.*$")
#: What a build step may see of the platform's environment: how to reach the package
#: index (proxies, CA bundles, uv's own settings). Never the platform's secrets.
_BUILD_ENV_NAMES = frozenset(
    {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NO_PROXY", "no_proxy"}
    | {f"{scheme}_PROXY" for scheme in ("HTTP", "HTTPS", "ALL")}
    | {f"{scheme}_proxy" for scheme in ("http", "https", "all")}
)
_CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


class BuildError(Exception):
    """An environment could not be built; the message says why (uv's own last lines)."""


def normalise_requirements(text: str) -> list[str]:
    """The requirement lines of a requirements.txt: no comments or blanks, sorted, unique.

    Only plain PEP 508 requirements are accepted: pip options (`-r`, `-e`, `--index-url`,
    ...) and non-https direct references would let a bundle read the host's files or
    choose other package sources.
    """
    lines: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            raise BuildError(f"requirements.txt line {number}: options are not allowed: {line}")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise BuildError(f"requirements.txt line {number}: {exc}") from exc
        if requirement.url and not requirement.url.startswith("https://"):
            raise BuildError(f"requirements.txt line {number}: only https:// URLs are allowed")
        lines.add(str(requirement))
    return sorted(lines)


def python_version(python: str) -> str:
    """The full version of the interpreter at `python` (e.g. '3.11.2')."""
    code = "import platform; print(platform.python_version())"
    return subprocess.run(
        [python, "-c", code], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def default_python() -> str:
    """The Python app venvs are built on: Debian's when it matches ours, else our own.

    The system interpreter is world-readable, so app uids can run it; ours may live under
    a private home directory (pyenv under /root).
    """
    want = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{want}", "/usr/bin/python3"):
        if os.path.exists(candidate) and os.path.basename(os.path.realpath(candidate)) == want:
            return candidate
    return os.path.realpath(sys.executable)


def build_environment(private: Path | None = None) -> dict[str, str]:
    """The environment of a build step: how to reach the package index, nothing else.

    ``private`` is the throwaway folder of an isolated build: its HOME and uv's cache, so
    nothing another user could write (a shared /tmp) steers it.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name in _BUILD_ENV_NAMES or (name.startswith("UV_") and name != "UV_CACHE_DIR")
    }
    env |= {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "UV_PYTHON_DOWNLOADS": "never",
        "NO_COLOR": "1",
    }
    if private is not None:
        env |= {"HOME": str(private), "UV_CACHE_DIR": str(private / "uv")}
    else:
        env |= {k: os.environ[k] for k in ("HOME", "UV_CACHE_DIR") if os.environ.get(k)}
    return env


def _ca_paths() -> list[Path]:
    """CA bundles named by the environment that the sandbox would not show otherwise."""
    found = []
    for name in _CA_VARIABLES:
        value = os.environ.get(name)
        path = Path(value) if value else None
        shown = path is None or any(path.is_relative_to(p) for p in ("/usr", "/etc/ssl"))
        if not shown and path.exists():
            found.append(path)
    return found


def _own_by(root: Path, uid: int) -> None:
    """Give everything under `root` to `uid` (links themselves, not their targets)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, uid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)


def _make_readable(root: Path) -> None:
    """Let other uids read and traverse `root` (apps run as their own uid)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o755)  # noqa: S103 - app uids read it
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))


class EnvironmentBuilder:
    """Builds and reuses venvs under `envs_dir`, one per distinct set of requirements."""

    def __init__(
        self,
        envs_dir: Path,
        *,
        uv: str,
        python: str,
        platform_requirements: Sequence[str],
        find_links: Sequence[Path] = (),
        only_wheels: bool = False,
        timeout: float = 900,
        isolation: Isolation | None = None,
    ) -> None:
        self.envs_dir = envs_dir
        self.uv = uv
        self.python = python
        self.platform_requirements = list(platform_requirements)
        self.find_links = list(find_links)
        self.only_wheels = only_wheels  # uv --no-build: never run a package's build code
        self.timeout = timeout
        #: Building from source runs package code: only under this isolation.
        self.isolation = isolation
        self._python_version: str | None = None

    def _fingerprint(self) -> list[str]:
        """What, besides the app's requirements, decides an environment's content."""
        if self._python_version is None:
            self._python_version = python_version(self.python)
        parts = [f"python {self._python_version}", *self.platform_requirements]
        for folder in self.find_links:
            for path in sorted(folder.glob("*")) if folder.is_dir() else ():
                if path.is_file():
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    parts.append(f"{path.name} {digest}")
        return parts

    def key(self, requirements: str) -> str:
        """20 hex characters naming the environment for `requirements`."""
        material = json.dumps([normalise_requirements(requirements), self._fingerprint()])
        return hashlib.sha256(material.encode()).hexdigest()[:20]

    def ensure(self, requirements: str, log: TextIO) -> Path:
        """The venv for `requirements`, built now unless an identical one is complete."""
        key = self.key(requirements)
        self.envs_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.envs_dir, 0o755)  # noqa: S103 - app uids read their venvs
        venv = self.envs_dir / key
        with open(self.envs_dir / f"{key}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (venv / COMPLETE).exists():
                log.write(f"reusing environment {key}\n")
                log.flush()
                return venv
            log.write(f"building environment {key}\n")
            log.flush()
            shutil.rmtree(venv, ignore_errors=True)
            try:
                self._build(venv, requirements, log)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise
            if self.isolation is not None and self.isolation.per_app_uid:
                _own_by(venv, 0)  # neither the builder nor any app may change it now
            _make_readable(venv)
            (venv / COMPLETE).write_text(json.dumps({"key": key}) + "\n")
            os.chmod(venv / COMPLETE, 0o644)
            return venv

    def _install(self, venv: Path, reqs: Path) -> list[str]:
        command = [
            self.uv,
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(reqs),
            *self.platform_requirements,
        ]
        for folder in self.find_links:
            command += ["--find-links", str(folder)]
        return command

    def _build(self, venv: Path, requirements: str, log: TextIO) -> None:
        """Create the venv and install into it, streaming uv's output into `log`.

        Installing wheels runs no package code, so that is done as ourselves with the
        shared cache. A requirement without a wheel must be built from source, which runs
        its code: that happens only under the isolation in force, as the builder uid with a
        private cache that is thrown away (a build must not plant files other builds use).
        """
        venv.mkdir(parents=True)
        self._run([self.uv, "venv", "--allow-existing", "--python", self.python, str(venv)], log)
        reqs = venv / "requirements.txt"
        reqs.write_text("\n".join(normalise_requirements(requirements)) + "\n")
        isolated = self.isolation is not None and (
            self.isolation.per_app_uid or self.isolation.sandbox
        )
        if not isolated and not self.only_wheels:
            self._run(self._install(venv, reqs), log)
            return
        try:
            self._run([*self._install(venv, reqs), "--no-build"], log)
            return
        except BuildError:
            if self.only_wheels:
                raise
        log.write("A requirement has no wheel: building from source, isolated.\n")
        self._build_isolated(venv, reqs, log)

    def _build_isolated(self, venv: Path, reqs: Path, log: TextIO) -> None:
        assert self.isolation is not None
        cache = Path(tempfile.mkdtemp(prefix=".build-cache-", dir=self.envs_dir))
        try:
            if self.isolation.per_app_uid:
                for path in (venv, cache):
                    _own_by(path, BUILDER_UID)
            readonly = [Path(self.uv), *self.find_links, *_ca_paths()]
            argv = wrap_build(
                self.isolation,
                self._install(venv, reqs),
                writable=[venv, cache],
                readonly=readonly,
            )
            self._run(argv, log, cache=cache, shown=self._install(venv, reqs))
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    def _run(
        self,
        command: list[str],
        log: TextIO,
        *,
        cache: Path | None = None,
        shown: list[str] | None = None,
    ) -> None:
        """Run uv, copy its output to `log`, raise BuildError with its last lines on failure."""
        env = build_environment(cache)
        log.write("$ " + " ".join(shown or command) + "\n")
        log.flush()
        tail: collections.deque[str] = collections.deque(maxlen=15)
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )
        timer = threading.Timer(self.timeout, process.kill)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                log.flush()
                if line.strip():
                    tail.append(line.rstrip())
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if code != 0:
            why = "timed out" if code == -9 else f"failed (exit {code})"
            raise BuildError(f"uv {(shown or command)[1]} {why}:\n" + "\n".join(tail))


def build_wheel(src: Path, out_dir: Path, *, uv: str, python: str | None = None) -> Path:
    """Build the project at `src` into a wheel in `out_dir` (`uv build --wheel`); return it.

    The build runs on a copy of `src`, so build backends leave no `build/` or
    `*.egg-info` in the source tree.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp:
        copy = Path(tmp) / "src"
        ignore = shutil.ignore_patterns("build", "dist", "*.egg-info", ".venv", "__pycache__")
        shutil.copytree(src, copy, ignore=ignore)
        command = [uv, "build", "--wheel", "--out-dir", tmp, str(copy)]
        if python:
            command[2:2] = ["--python", python]
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=600, check=False
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise BuildError(f"uv build of {src} failed:\n{tail}")
        target = out_dir / wheels[0].name
        os.replace(wheels[0], target)
        os.chmod(target, 0o644)
        return target
