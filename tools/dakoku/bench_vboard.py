"""The virtual board's figures, part of ``dakoku bench board`` (simulator/vboard/).

- ``virtual_board_boot_s_{micropython,cpython}``: wall time from starting ``dakoku board run``
  (a new process, as a user does) to its "ready" line, printed when the firmware's boot
  is done and the ready screen drawn; the median of ``BOOTS`` starts of the same board (the
  flash files kept, so boot 2 onwards, as on a desk).
- ``virtual_board_tap_ms_{micropython,cpython}``: wall time from writing ``card IDM`` on the
  console's pty to the console's ``screen`` showing ``style: ok``; the median and the worst of
  ``TAPS`` taps of different cards (each after the screen is back to ready). It includes the
  console's own round trips (``screen`` is asked every 5 ms), so it is an upper bound of the
  firmware's part.
- ``virtual_board_soak_*``: ``SOAK_TURNS`` turns of the BT profile on MicroPython, the idle
  sleeps skipped (the loop as fast as it goes), against the receiver: whether the guest ended
  cleanly (``virtual_board_soak_ok``), its collections at module level
  (``virtual_board_soak_collections``: the interpreter's collector defect, docs/HARDWARE.md),
  the host calls per turn and the wall time per turn without the idle sleep.

A receiver runs in this process on 127.0.0.1 (SQLite in a temporary directory).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

BOOTS = 3
TAPS = 8
SOAK_TURNS = 10000
_SECRET = "00112233445566778899aabbccddeeff"
_TERMINALS = {"micropython": "T0001", "cpython": "T0002"}  # one identity per board


def _start(board_dir: Path, url: str, runtime: str):
    from simulator.vboard.launch import BoardProcess

    return BoardProcess(board_dir, url, "ACME01", _TERMINALS[runtime], bytes.fromhex(_SECRET),
                        runtime=runtime)  # fmt: skip


def _one_runtime(runtime: str, url: str, base: Path) -> dict:

    boots = []
    board = None
    for _ in range(BOOTS):
        if board is not None:
            board.stop()
        board = _start(base / runtime, url, runtime)
        boots.append(board.ready_s)
    assert board is not None
    taps = []
    try:
        with board.console() as con:
            deadline = time.monotonic() + 60
            while "roster: version=0" in " ".join(con.ok("status")):
                if time.monotonic() > deadline:
                    raise RuntimeError("the board never got its roster")
                time.sleep(0.2)
            for i in range(TAPS):
                con.wait_screen(lambda s: s[0] == "style: ready", 30)
                t0 = time.monotonic()
                con.ok(f"card 012e4cd2a3b4{i + 1:04x}")
                shown = con.wait_screen(lambda s: s[0] != "style: ready", 30, every_s=0.005)
                if shown[0] != "style: ok":
                    raise RuntimeError(f"tap {i + 1} was answered {shown!r}")
                taps.append((time.monotonic() - t0) * 1000)
    finally:
        board.stop()
    return {
        f"virtual_board_boot_s_{runtime}": round(statistics.median(boots), 2),
        f"virtual_board_tap_ms_{runtime}": round(statistics.median(taps), 1),
        f"virtual_board_tap_ms_max_{runtime}": round(max(taps), 1),
    }


def _soak(url: str, base: Path) -> dict:
    from simulator.remoteday import parse_receiver_url
    from simulator.vboard.host import BoardWorld, run_once

    _, host, port = parse_receiver_url(url)
    world = BoardWorld("bt", base / "soak", host, port, ("ACME01", "T0003", bytes.fromhex(_SECRET)),
                       log=lambda line: None)  # fmt: skip
    world._sleep_ms = lambda ms: False  # type: ignore[method-assign]  # as fast as it goes
    t0 = time.monotonic()
    try:
        status = run_once(world, turns=SOAK_TURNS)
    finally:
        world.close()
    took = time.monotonic() - t0
    return {
        "virtual_board_soak_turns": SOAK_TURNS,
        "virtual_board_soak_ok": status == 0,
        "virtual_board_soak_collections": world.collections,
        "virtual_board_soak_host_calls_per_turn": round(world.host_calls / SOAK_TURNS, 1),
        "virtual_board_soak_ms_per_turn": round(took * 1000 / SOAK_TURNS, 2),
    }


def bench_vboard() -> dict:
    from simulator.cloud.service import RunningReceiver
    from simulator.cloud.store import SqlStore

    out: dict = {"virtual_board_boots": BOOTS, "virtual_board_taps": TAPS}
    with tempfile.TemporaryDirectory(prefix="dakoku-vboard-") as tmp:
        base = Path(tmp)
        store = SqlStore.open(str(base / "r.db"))
        store.add_tenant("ACME01")
        for terminal in (*_TERMINALS.values(), "T0003"):
            store.add_terminal("ACME01", terminal, bytes.fromhex(_SECRET))
        for i in range(1, 2 * TAPS + 1):
            store.add_employee("ACME01", f"E{i}", f"社員 {i}", cards=[f"012e4cd2a3b4{i:04x}"])
        try:
            with RunningReceiver(store) as rx:
                for runtime in ("micropython", "cpython"):
                    out.update(_one_runtime(runtime, rx.url, base))
                out.update(_soak(rx.url, base))
        finally:
            store.close()
    return out
