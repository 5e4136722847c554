"""Virtual boards as a user starts them: ``dakoku board run`` in its own process, its console
on the pty it prints, a receiver on 127.0.0.1 (simulator/vboard/, docs/HARDWARE.md)."""

from __future__ import annotations

import time
from pathlib import Path

from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore
from simulator.vboard.client import Console
from simulator.vboard.launch import BoardProcess as _BoardProcess

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")
CARDS = [f"012e4cd2a3b4{n:04x}" for n in range(1, 21)]  # E1..E20


def make_store(path: Path, terminals=("T0001",)) -> SqlStore:
    store = SqlStore.open(str(path))
    store.add_tenant("ACME01")
    for t in terminals:
        store.add_terminal("ACME01", t, SECRET)
    for i, card in enumerate(CARDS, 1):
        store.add_employee(
            "ACME01", f"E{i}", f"社員 {i}", cards=[card], fingers=[i] if i <= 5 else []
        )  # finger ID = the R503's page
    return store


def receiver(store: SqlStore, port: int = 0, **kwargs) -> RunningReceiver:
    return RunningReceiver(store, port=port, **kwargs)


class BoardProcess(_BoardProcess):
    """A board of ACME01 with the tests' secret."""

    def __init__(self, board_dir: Path, url: str, profile="pit", runtime="micropython",
                 terminal="T0001", extra=(), ready_timeout_s=60.0):  # fmt: skip
        super().__init__(board_dir, url, "ACME01", terminal, SECRET, profile=profile,
                         runtime=runtime, extra=extra, ready_timeout_s=ready_timeout_s)  # fmt: skip


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
