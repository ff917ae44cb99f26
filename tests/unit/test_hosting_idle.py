"""Scale to zero's decision: which running apps have been idle past their timeout."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from portal.hosting.idle import IdleTimeouts, check_idle
from portal.hosting.supervisor import ProgramState


@dataclass
class RecordingSupervisor:
    """Answers states as given and records pauses (the real one is tested in integration)."""

    states: dict[str, ProgramState]
    paused: list[str] = field(default_factory=list)

    def state(self, name: str) -> ProgramState:
        return self.states.get(name, ProgramState(name=name, statename="ABSENT"))

    def pause(self, name: str) -> None:
        self.paused.append(name)


def test_only_running_apps_idle_past_their_timeout_are_paused(tmp_path: Path) -> None:
    idle = IdleTimeouts(tmp_path, tmp_path / "run")
    idle.set("app-a-1", "a", 60)
    idle.set("app-b-2", "b", 60)
    idle.set("app-c-3", "c", 60)
    idle.set("app-d-4", "d", None)  # no timeout: never paused
    now = 10_000.0
    idle.touch("b")
    os.utime(idle.activity / "b", (now - 30, now - 30))  # used 30 s ago
    supervisor = RecordingSupervisor(
        {
            "app-a-1": ProgramState("app-a-1", "RUNNING", pid=1, start=int(now - 600)),
            "app-b-2": ProgramState("app-b-2", "RUNNING", pid=2, start=int(now - 600)),
            "app-c-3": ProgramState("app-c-3", "RUNNING", pid=3, start=int(now - 20)),  # fresh
            "app-d-4": ProgramState("app-d-4", "RUNNING", pid=4, start=int(now - 600)),
        }
    )
    assert check_idle(supervisor, idle, now=now) == ["app-a-1"]
    assert supervisor.paused == ["app-a-1"]


def test_marks_are_files_and_a_cleared_timeout_is_forgotten(tmp_path: Path) -> None:
    idle = IdleTimeouts(tmp_path, tmp_path / "run")
    assert idle.last_used("x") == 0.0
    idle.touch("x")
    assert idle.last_used("x") > 0
    idle.set("app-x-1", "x", 30)
    idle.set("app-x-1", "x", None)
    assert idle.timeouts() == {}
