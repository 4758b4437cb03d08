"""A service the stack started goes when the process that started it dies, even by SIGKILL:
a killed test run or `sedulur up` leaves no services behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = "from shared.supervisor import stop_with_parent; stop_with_parent(); " \
        "import time; time.sleep(120)"
PARENT = f"""
import os, subprocess, sys, time
from shared.supervisor import PARENT_ENV
env = {{**os.environ, PARENT_ENV: str(os.getpid())}}
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], start_new_session=True, env=env)
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_the_child_is_stopped_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
