"""Virtual boards as a user starts them: ``dakoku board run`` in its own process, its console
on the pty it prints, a receiver on 127.0.0.1 (simulator/vboard/, docs/HARDWARE.md)."""

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

from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore
from simulator.vboard.client import Console

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")
CARDS = [f"012e4cd2a3b4{n:04x}" for n in range(1, 21)]  # E1..E20
_CONSOLE = re.compile(r"console (/dev/\S+),")


def make_store(path: Path, terminals=("T0001",)) -> SqlStore:
    store = SqlStore.open(str(path))
    store.add_tenant("ACME01")
    for t in terminals:
        store.add_terminal("ACME01", t, SECRET)
    for i, card in enumerate(CARDS, 1):
        store.add_employee("ACME01", f"E{i}", f"社員 {i}", cards=[card])
    return store


def receiver(store: SqlStore, port: int = 0) -> RunningReceiver:
    return RunningReceiver(store, port=port)


class BoardProcess:
    """``dakoku board run`` as a child process; ``console`` is its pty's path."""

    def __init__(self, board_dir: Path, url: str, profile="pit", runtime="micropython",
                 terminal="T0001", extra=(), ready_timeout_s=60.0):  # fmt: skip
        self.board_dir = board_dir
        cmd = [sys.executable, "-m", "dakoku.cli", "board", "run", "--profile", profile,
               "--receiver", url, "--tenant", "ACME01", "--terminal", terminal,
               "--secret", SECRET.hex(), "--runtime", runtime, "--dir", str(board_dir),
               *extra]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, text=True)  # fmt: skip
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.console_path = self.wait_line(_CONSOLE, ready_timeout_s).group(1)
        self.wait_line(re.compile(r"ready \(boot"), ready_timeout_s)

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


def wait_until(predicate, timeout_s: float = 30.0, every_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {predicate}")
        time.sleep(every_s)


def receiver_cards(store: SqlStore, terminal: str = "T0001") -> list[str]:
    """The cards of the punches the receiver holds from ``terminal``, by sequence number."""
    rows = [r for r in store.punch_rows("ACME01") if r[0] == terminal]
    rows.sort(key=lambda r: r[1])
    return [bytes(r[8]).hex() for r in rows]


def receiver_seqs(store: SqlStore, terminal: str = "T0001") -> list[int]:
    return sorted(r[1] for r in store.punch_rows("ACME01") if r[0] == terminal)


def tap(console: Console, card: str, timeout_s: float = 20.0) -> list[str]:
    """Place ``card`` through the console and wait for the screen's answer (not "ready")."""
    assert console.ok(f"card {card}") == []
    return console.wait_screen(lambda s: s and s[0] != "style: ready", timeout_s)


def wait_ready(console: Console, timeout_s: float = 20.0) -> list[str]:
    return console.wait_screen(lambda s: s and s[0] == "style: ready", timeout_s)
