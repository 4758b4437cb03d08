"""Starts the services and the relay as separate processes (what `sedulur up` and the
system tests use), waits for them to be healthy, and stops them gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared.config import SERVICES, Settings
from shared.errors import DependencyUnavailable

PARENT_ENV = "SEDULUR_STOP_WITH_PARENT"


def stop_with_parent() -> None:
    """Called first thing by `sedulur` in a child this stack started: SIGTERM it (a graceful
    stop) when the process that started it dies, even by SIGKILL, so a killed test run or
    `sedulur up` leaves no services behind on their own session (Linux prctl
    PR_SET_PDEATHSIG). Done in the child, not in a preexec_fn: eventlet warns on fork."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # it died before the prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    http_url: str | None = None


@dataclass
class Stack:
    settings: Settings
    log_dir: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self, name: str, *, instance: int = 1, env: dict[str, str] | None = None
              ) -> Process:
        """Start `name` (a service or "relay"). `instance` > 1 starts another copy beside
        the first, kept as "<name>#<instance>"; a second copy of a service needs its own
        HTTP port, given in `env` (SEDULUR_<NAME>_HTTP_PORT)."""
        args = ["relay"] if name == "relay" else ["run", name]
        key = name if instance == 1 else f"{name}#{instance}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{key}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its life
        child_env = {**os.environ, **(env or {}), PARENT_ENV: str(os.getpid())}
        popen = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,
        )
        http_url = None
        if name != "relay":
            port = child_env.get(f"SEDULUR_{name.upper()}_HTTP_PORT") or \
                self.settings.http_port(name)
            http_url = f"http://{self.settings.http_host}:{port}"
        proc = Process(key, popen, log_path, http_url)
        self.processes[key] = proc
        return proc

    def start_all(self, services: tuple[str, ...] = SERVICES, relay: bool = True) -> None:
        for svc in services:
            self.start(svc)
        if relay:
            self.start("relay")

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name, proc in self.processes.items():
            if proc.http_url is None:
                continue
            url = f"{proc.http_url}/health"
            while True:
                if proc.popen.poll() is not None:
                    raise DependencyUnavailable(
                        f"{name} exited with {proc.popen.returncode}; see {proc.log_path}:\n"
                        + tail(proc.log_path)
                    )
                try:
                    if requests.get(url, timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise DependencyUnavailable(f"{name} not healthy after {timeout}s; "
                                                f"see {proc.log_path}:\n" + tail(proc.log_path))
                time.sleep(0.2)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[name]
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, sig)
            proc.popen.wait(timeout=30)

    def stop(self, name: str | None = None, timeout: float = 20) -> None:
        names = [name] if name else list(self.processes)
        for n in names:
            p = self.processes[n].popen
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for n in names:
            p = self.processes[n].popen
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def remove(self, name: str, timeout: float = 20) -> None:
        """Stop one process (e.g. a second instance) and forget it."""
        self.stop(name, timeout)
        self.processes.pop(name)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
