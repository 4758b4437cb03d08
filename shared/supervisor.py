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


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path


@dataclass
class Stack:
    settings: Settings
    log_dir: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self, name: str) -> Process:
        args = ["relay"] if name == "relay" else ["run", name]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its life
        popen = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
            start_new_session=True,
        )
        proc = Process(name, popen, log_path)
        self.processes[name] = proc
        return proc

    def start_all(self, services: tuple[str, ...] = SERVICES, relay: bool = True) -> None:
        for svc in services:
            self.start(svc)
        if relay:
            self.start("relay")

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name, proc in self.processes.items():
            if name == "relay":
                continue
            url = f"{self.settings.http_url(name)}/health"
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

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
