"""``dakoku board run`` as a child process, as a user starts it (CPython): tests, benchmarks,
``make sim`` and tools. ``BoardProcess(...)`` returns once the board printed its console's pty
(``console_path``) and its "ready" line (``ready_s`` after the start); ``console()`` opens the
console (simulator/vboard/client.py); ``kill()`` is SIGKILL (a power cut of the whole process),
``stop()`` SIGTERM (the board stops between two turns)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from simulator.vboard.client import Console

_CONSOLE = re.compile(r"console (/dev/\S+),")


class BoardProcess:
    """``dakoku board run`` as a child process; ``console`` is its pty's path."""

    def __init__(self, board_dir: Path, url: str, tenant: str, terminal: str, secret: bytes,
                 profile="pit", runtime="micropython", extra=(),
                 ready_timeout_s=60.0):  # fmt: skip
        self.board_dir = board_dir
        self.started = time.monotonic()
        cmd = [sys.executable, "-m", "dakoku.cli", "board", "run", "--profile", profile,
               "--receiver", url, "--tenant", tenant, "--terminal", terminal,
               "--secret", secret.hex(), "--runtime", runtime, "--dir", str(board_dir),
               *extra]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True)  # fmt: skip
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.console_path = self.wait_line(_CONSOLE, ready_timeout_s).group(1)
        self.wait_line(re.compile(r"ready \(boot"), ready_timeout_s)
        self.ready_s = time.monotonic() - self.started  # started to its ready screen

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line.rstrip("\n"))

    def wait_line(self, pattern: re.Pattern, timeout_s: float) -> re.Match:
        """The next line of the board's output matching ``pattern``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._new.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"the board never printed {pattern.pattern!r}; it printed:\n"
                    + "\n".join(self.lines)
                ) from None
            m = pattern.search(line)
            if m:
                return m

    def console(self) -> Console:
        c = Console(self.console_path)
        c.drain(0.1)
        return c

    def kill(self) -> None:
        """SIGKILL: the process ends wherever it is, as at a power cut."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
