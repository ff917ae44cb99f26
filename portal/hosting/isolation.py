"""Isolation: what keeps an app away from the platform and from other apps, here and now.

Two independent layers, each used when this machine allows it:
- a uid per app (when the platform runs as root): `setpriv` drops to the app's own
  unprivileged uid with no groups, no capabilities and no_new_privs;
- a bubblewrap sandbox (when `bwrap` works here): the app sees only /usr, a few files
  of /etc, its bundle and venv (read-only), its data and socket folders, a private /tmp,
  and its own pid, ipc, uts and user namespaces (it keeps the network).
The command prefix from `wrap` is what a runner puts in front of the app's own command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROBE_UID = 65534  # nobody: the probe runs the sandbox as an unprivileged user
#: The uid builds run as when the platform is root: not root, and not any app's uid, so a
#: package's build code can neither read the platform's files nor touch an app's.
BUILDER_UID = 19999
ETC_FILES = ("ssl", "resolv.conf", "hosts", "nsswitch.conf", "localtime")
ROOT_LINKS = ("lib", "lib64", "lib32", "bin", "sbin")
SANDBOX_FLAGS = ("--unshare-all", "--share-net", "--die-with-parent")


def drop_privileges(uid: int) -> list[str]:
    """The setpriv prefix that runs a command as `uid`/`uid`, with nothing else kept."""
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _probe_sandbox(as_root: bool) -> bool:
    """Whether bwrap can build the sandbox `wrap` uses (as an unprivileged uid if root)."""
    if not shutil.which("bwrap") or (as_root and not shutil.which("setpriv")):
        return False
    command = ["bwrap", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    command += [*SANDBOX_FLAGS, "true"]
    if as_root:
        command = drop_privileges(PROBE_UID) + command
    try:
        done = subprocess.run(command, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class Isolation:
    """The isolation in force: a uid per app, a bubblewrap sandbox, both or neither."""

    per_app_uid: bool
    sandbox: bool

    @classmethod
    def detect(cls, *, sandbox: bool = True) -> Isolation:
        """What this machine allows; `sandbox=False` turns the sandbox off (a setting)."""
        as_root = os.geteuid() == 0
        per_app_uid = as_root and shutil.which("setpriv") is not None
        return cls(per_app_uid=per_app_uid, sandbox=sandbox and _probe_sandbox(per_app_uid))

    def describe(self) -> str:
        """The isolation in plain words, for the Admin section."""
        view = "that shows it only its bundle, its environment, its data and a private /tmp"
        if self.per_app_uid and self.sandbox:
            return f"Each app runs as its own unprivileged user inside a bubblewrap sandbox {view}."
        if self.per_app_uid:
            return (
                "Each app runs as its own unprivileged user: it cannot change the platform's "
                "files or read other apps' data, but it can read what is world-readable on "
                "this machine. Install bubblewrap (apt-get install bubblewrap) to sandbox it."
            )
        if self.sandbox:
            return (
                f"Each app runs inside a bubblewrap sandbox {view}, but as the same user as "
                "the platform. Run the platform as root to give each app its own user."
            )
        return (
            "Apps run as the same user as the platform: they can read the platform's files. "
            "Install bubblewrap (apt-get install bubblewrap) or run the platform as root to "
            "isolate them."
        )


def app_uid(app_id: int, *, base: int = 20000) -> int:
    """The unprivileged uid (and gid) app number `app_id` runs as."""
    if app_id < 0:
        raise ValueError(f"app id {app_id} is negative")
    return base + app_id


def prepare_paths(
    iso: Isolation,
    *,
    uid: int | None,
    bundle: Path,
    data: Path,
    rundir: Path,
    frontdoor_gid: int | None,
) -> None:
    """Create and lock down an app's folders so only it (and the front door) reach them.

    With a uid per app: the bundle folder is root's with the app's group, 0750 (the app
    reads it and cannot change it; other apps cannot enter); data is the app's, 0700;
    the socket folder is the app's with the front door's group, 0750 (nginx connects,
    other apps cannot enter). Otherwise all three are 0700 folders of the platform's user.
    The parents must be traversable (o+x) by the app's uid.
    """
    for path in (data, rundir):
        path.mkdir(parents=True, exist_ok=True)
    if not (iso.per_app_uid and uid is not None):
        for path in (bundle, data, rundir):
            os.chmod(path, 0o700)
        return
    os.chown(bundle, 0, uid)
    os.chmod(bundle, 0o750)  # noqa: S103 - group is the app's own
    os.chown(data, uid, uid)
    os.chmod(data, 0o700)
    os.chown(rundir, uid, uid if frontdoor_gid is None else frontdoor_gid)
    os.chmod(rundir, 0o700 if frontdoor_gid is None else 0o750)


def _system_binds() -> list[str]:
    """bwrap arguments for /usr, the root symlinks into it and the /etc files apps need."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ROOT_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


def wrap(
    iso: Isolation,
    command: list[str],
    *,
    uid: int | None,
    bundle: Path,
    venv: Path,
    data: Path,
    rundir: Path,
    extra_ro: Sequence[Path] = (),
) -> list[str]:
    """The full argv that runs `command` for an app under the isolation in force.

    bwrap does not forward signals to what it runs, so supervisord's stop signal (TERM,
    sent to the program's process group) must reach the app directly: bwrap runs without
    --new-session (supervisord's children have no controlling terminal, which is what
    --new-session protects) so the app stays in that group, and bwrap itself ignores TERM
    (the `trap ""` is inherited across exec; gunicorn installs its own handler). The app
    then shuts down gracefully, bwrap exits with it, and supervisord's SIGKILL to the
    group after stopwaitsecs (plus --die-with-parent) still ends everything.
    """
    argv = ["/bin/sh", "-c", 'trap "" TERM; exec "$@"', "sh"] if iso.sandbox else []
    if iso.per_app_uid and uid is not None:
        argv += drop_privileges(uid)
    if iso.sandbox:
        argv += ["bwrap", *_system_binds()]
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - private
        for path in (venv, bundle, *extra_ro):
            argv += ["--ro-bind", str(path), str(path)]
        for path in (data, rundir):
            argv += ["--bind", str(path), str(path)]
        argv += [*SANDBOX_FLAGS, "--chdir", str(bundle)]
    return argv + command


def wrap_build(
    iso: Isolation,
    command: list[str],
    *,
    writable: Sequence[Path],
    readonly: Sequence[Path] = (),
) -> list[str]:
    """The argv that runs a build step (uv, and any package build code it runs).

    A requirements file is untrusted input: building an sdist runs its code. As root the
    step runs as :data:`BUILDER_UID`; with the sandbox it sees only /usr, the network, the
    folders it writes (the venv, uv's cache) and what it reads (uv, offered wheels).
    """
    argv = drop_privileges(BUILDER_UID) if iso.per_app_uid else []
    if iso.sandbox:
        argv += ["bwrap", *_system_binds()]
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - private
        for path in readonly:
            argv += ["--ro-bind", str(path), str(path)]
        for path in writable:
            argv += ["--bind", str(path), str(path)]
        argv += list(SANDBOX_FLAGS)
    return argv + command


def venv_base_prefix(venv: Path) -> Path | None:
    """The prefix of the Python a venv was made from, when the sandbox must add it.

    None when that Python lives under /usr (already visible) or cannot be told.
    """
    try:
        text = (venv / "pyvenv.cfg").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            prefix = Path(value.strip()).resolve().parent
            return None if prefix.is_relative_to("/usr") else prefix
    return None
