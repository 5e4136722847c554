"""``dakoku sim``: the simulator's entry point.

The simulator itself (virtual terminals, a virtual service, scenarios, conformance) is not built
yet. Until it is, this runs the end-to-end demonstration the code supports today and says
plainly what is missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

SIM_OUTPUT = "sim-output"  # what `make sim` leaves behind (git-ignored)

# What the simulator will consist of, and where each part stands. Kept honest by hand: a part
# moves to "built" in the same change that builds it.
PARTS = [
    ("MicroPython runner and dual-runtime tests", "built", "issue 2"),
    ("flash punch journal on simulated NOR flash", "built", "issue 3"),
    ("upload protocol v1 (client and server roles)", "built", "issue 4"),
    ("terminal firmware state machine and door experience", "in progress", "issue 5"),
    ("reference receiver service (dakoku cloud)", "built", "issue 6"),
    ("virtual terminals, scenarios, conformance suite", "not built yet", "later issues"),
]

_GUEST_REPORT = """\
import sys, gc, firmware
gc.collect()
print("  MicroPython", ".".join(str(v) for v in sys.implementation.version[:3]),
      "- firmware", firmware.VERSION,
      "- heap free", gc.mem_free(), "of", gc.mem_free() + gc.mem_alloc(), "bytes")
"""


def demo_two_runtimes() -> int:
    """The terminal package imported on CPython and inside the real MicroPython (64 KB heap)."""
    import firmware
    from dakoku.micropython import shared_interpreter

    print("Terminal code on two runtimes:")
    print(f"  CPython {platform.python_version()} - firmware {firmware.VERSION}")
    result = shared_interpreter().run(
        ["-X", "heapsize=64K", "-c", _GUEST_REPORT],
        on_stdout=lambda b: (sys.stdout.write(b.decode()), sys.stdout.flush()) and None,
        on_stderr=lambda b: (sys.stderr.write(b.decode()), sys.stderr.flush()) and None,
        timeout_s=30,
    )
    print(f"  (guest exit status {result.exit_status}, fuel used {result.fuel_used})")
    return result.exit_status


def demo_protocol() -> int:
    """A terminal's client and a receiver's server in memory under virtual time: punches, a
    lost acknowledgement, a maintenance window, and every punch held exactly once at the end."""
    from firmware.punch import KIND_CLOCK_IN, Punch
    from protocol.client import Client, Identity, Send
    from protocol.memstore import MemoryStore
    from protocol.server import Server

    epoch = 1795000000
    secret = b"demo-secret-0123456789abcdef"
    store = MemoryStore()
    store.add_tenant("ACME01")
    store.add_terminal("ACME01", "T0001", secret)
    card = bytes.fromhex("012e4cd2a3b4c5d6")
    store.add_employee("ACME01", "E001", "山田 太郎", cards=[card])
    server = Server(store)
    client = Client(Identity("ACME01", "T0001", secret, "0.1.0", "pit-sim"), boot_id=1)

    class Journal:  # the terminal's journal, in memory for the demonstration
        def __init__(self):
            self.punches: list[Punch] = []
            self.delivered: set[int] = set()

        def unsent(self, limit=-1):
            todo = [p for p in self.punches if p.seq not in self.delivered]
            return iter(todo if limit < 0 else todo[:limit])

        def journal_status(self):
            unsent = len(self.punches) - len(self.delivered)
            return {"next_seq": len(self.punches) + 1, "unsent": unsent, "capacity": 8000}

        def clock_state(self):
            return {"synced": True, "time": epoch, "boot": 1, "up": 0}

    journal = Journal()
    now = 0
    client.start(now, epoch)
    lose_next_ack = False

    def tap(count):
        for _ in range(count):
            seq = len(journal.punches) + 1
            punch = Punch(epoch + now // 1000, KIND_CLOCK_IN, 1, card, True, 540, 1, 0, seq)
            journal.punches.append(punch)

    def run_until(limit):
        nonlocal now, lose_next_ack
        while now <= limit:
            action = client.next_action(now, journal)
            if not isinstance(action, Send):
                if action.until_ms is None or action.until_ms > limit:
                    return
                now = action.until_ms
                continue
            answer = server.handle(action.data, epoch + now // 1000)
            if lose_next_ack and action.kind == "punches":
                lose_next_ack = False
                out = client.timed_out(action.deadline_ms)
                now = action.deadline_ms
                note = " (the receiver stored them; the answer was lost)"
            else:
                out = client.receive(now, answer)
                note = ""
            if out is None:
                return
            for seq in out.delivered:
                journal.delivered.add(seq)
            print(f"  t={now / 1000:7.1f}s  {out.mode:<11} {out.log}{note}")

    tap(3)
    run_until(1000)
    lose_next_ack = True
    tap(2)
    run_until(30_000)
    start = epoch + now // 1000
    store.windows.append({"start": start, "end": start + 600, "notice": "planned upgrade"})
    print(f"  t={now / 1000:7.1f}s  -- maintenance for 600 s; 4 more taps are stored offline")
    tap(4)
    run_until(now + 1_000_000)
    held = store.held("ACME01", "T0001")
    ok = sorted(held) == list(range(1, 10)) and len(journal.delivered) == 9
    print(f"  receiver holds {len(held)} punches, each once; terminal has 0 unsent: {ok}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dakoku sim", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    print("dakoku simulator - what exists today\n")
    for part, state, where in PARTS:
        print(f"  [{'x' if state == 'built' else ' '}] {part:<50} {state} ({where})")
    print()
    status = demo_two_runtimes()
    print()
    print("Upload protocol v1, terminal and receiver in memory (virtual time):")
    status = demo_protocol() or status
    print()
    print("A day at a 50-person office: the terminal core on simulated flash, the reference")
    print("receiver (SQLite) over real HTTP on 127.0.0.1, a maintenance window and a network")
    print("outage (virtual time; simulator/door.py, simulator/cloud/):")
    from simulator.cloud.endtoend import cloud_day

    result = cloud_day(printer=lambda line: print("  " + line))
    print(f"  {result.requests} HTTP requests; every punch answered OK is held by the receiver")
    print(f"  exactly once: {result.ok}")
    status = status or (0 if result.ok else 1)
    os.makedirs(SIM_OUTPUT, exist_ok=True)
    csv_path = os.path.join(SIM_OUTPUT, "punches.csv")
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        fh.write(result.csv)
    lines = result.csv.splitlines()
    print()
    print(f"The receiver's CSV export (FCS-05), {len(lines) - 1} punches, in full in {csv_path}:")
    shown = [*lines[:6], "...", *[ln for ln in lines if ",yes," in ln][:3], "...", *lines[-3:]]
    for line in shown:
        print("  " + line)
    print()
    print("The simulator proper is not built yet; `make sim` grows with each issue that lands.")
    return status
