"""`sedulur up` restarts a process that exits (restart policy) and stops when one
crash-loops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared import demo


class Popen:
    def __init__(self, code: int | None) -> None:
        self.code = code

    def poll(self) -> int | None:
        return self.code


@dataclass
class Proc:
    popen: Popen
    log_path: Path = Path("x.log")


@dataclass
class FakeStack:
    crash_first: int  # how many of the started copies exit at once
    started: list[str] = field(default_factory=list)
    processes: dict[str, Proc] = field(default_factory=dict)

    def start(self, name: str) -> Proc:
        self.started.append(name)
        code = 70 if len(self.started) <= self.crash_first else None
        self.processes[name] = Proc(Popen(code))
        return self.processes[name]


class Console:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str) -> None:
        self.lines.append(text)


def test_an_exited_process_is_restarted(monkeypatch) -> None:
    stack = FakeStack(crash_first=1)
    stack.processes["verification"] = Proc(Popen(70))
    ticks = iter(range(3))

    def sleep(_s: float) -> None:
        if next(ticks, None) is None:
            raise KeyboardInterrupt

    monkeypatch.setattr(demo.time, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        demo.supervise(stack, Console())
    # The exited one restarted; the first restart crashed too and was restarted again;
    # the second stays up.
    assert stack.started == ["verification", "verification"]
    assert stack.processes["verification"].popen.poll() is None


def test_a_crash_loop_stops_everything(monkeypatch) -> None:
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)
    stack = FakeStack(crash_first=100)
    stack.processes["sla"] = Proc(Popen(70))
    console = Console()
    demo.supervise(stack, console, max_restarts=3)
    assert len(stack.started) == 3
    assert "exited 70 4 times" in console.lines[-1]
