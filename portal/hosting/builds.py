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

COMPLETE = ".complete"
_COMMENT = re.compile(r"(^|\s)#.*$")


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
    ) -> None:
        self.envs_dir = envs_dir
        self.uv = uv
        self.python = python
        self.platform_requirements = list(platform_requirements)
        self.find_links = list(find_links)
        self.only_wheels = only_wheels  # uv --no-build: never run a package's build code
        self.timeout = timeout
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
            _make_readable(venv)
            (venv / COMPLETE).write_text(json.dumps({"key": key}) + "\n")
            os.chmod(venv / COMPLETE, 0o644)
            return venv

    def _build(self, venv: Path, requirements: str, log: TextIO) -> None:
        """Create the venv and install into it, streaming uv's output into `log`."""
        self._run([self.uv, "venv", "--python", self.python, str(venv)], log)
        reqs = venv / "requirements.txt"
        reqs.write_text("\n".join(normalise_requirements(requirements)) + "\n")
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
        if self.only_wheels:
            command.append("--no-build")
        self._run(command, log)

    def _run(self, command: list[str], log: TextIO) -> None:
        """Run uv, copy its output to `log`, raise BuildError with its last lines on failure."""
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
        log.write("$ " + " ".join(command) + "\n")
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
            raise BuildError(f"uv {command[1]} {why}:\n" + "\n".join(tail))


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
