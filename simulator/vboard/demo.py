"""``make sim``'s look at the virtual board (CPython): the real firmware on the real MicroPython
as a BT board, a receiver on 127.0.0.1, a card placed through the console on the board's pty,
the process killed and started again (simulator/vboard/, docs/HARDWARE.md "Virtual board")."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")
CARD = "012e4cd2a3b40001"


def _wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def desk_board(printer: Callable[[str], None] = print) -> bool:
    """True when the punch answered OK is at the receiver once, after a kill and a restart."""
    from simulator.cloud.service import RunningReceiver
    from simulator.cloud.store import SqlStore
    from simulator.vboard.launch import BoardProcess

    with tempfile.TemporaryDirectory(prefix="dakoku-desk-") as tmp:
        store = SqlStore.open(str(Path(tmp) / "r.db"))
        store.add_tenant("ACME01")
        store.add_terminal("ACME01", "T0009", SECRET)
        store.add_employee("ACME01", "E0001", "山田 太郎", cards=[CARD])

        def held() -> list:
            return [r for r in store.punch_rows("ACME01") if r[0] == "T0009"]

        try:
            with RunningReceiver(store) as rx:
                board = BoardProcess(Path(tmp) / "board", rx.url, "ACME01", "T0009", SECRET,
                                     profile="bt")  # fmt: skip
                try:
                    printer(f"$ dakoku board run --profile bt --receiver {rx.url} …")
                    printer(f"  {board.lines[0]}")
                    printer(f"  ready in {board.ready_s:.1f} s (the firmware's boot, the ready "
                            "screen drawn)")  # fmt: skip
                    with board.console() as con:
                        _wait(lambda: "version=0" not in " ".join(con.ok("status")), 30)
                        printer(f"console> card {CARD}")
                        con.ok(f"card {CARD}")
                        shown = con.wait_screen(lambda s: s[0] != "style: ready", 20)
                        printer("console> screen")
                        for line in shown:
                            printer("  " + line)
                    ok = shown[0] == "style: ok"
                    delivered = _wait(lambda: len(held()) == 1, 30)
                    printer(f"  the receiver holds it: {delivered}")
                    board.kill()
                    printer("  the board's process killed (SIGKILL) and started again:")
                    board = BoardProcess(Path(tmp) / "board", rx.url, "ACME01", "T0009",
                                         SECRET, profile="bt")  # fmt: skip
                    with board.console() as con:
                        printer("console> journal")
                        for line in con.ok("journal"):
                            printer("  " + line)
                    once = len(held()) == 1
                    printer(f"  the punch is at the receiver once: {once}")
                finally:
                    board.stop()
        finally:
            store.close()
    return ok and delivered and once
