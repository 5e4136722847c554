"""``dakoku bench firmware``: the cost of a tap, the heap of a day, flash work on the tap path.

- ``tap_fuel_small`` / ``tap_fuel_large``: wasmtime fuel on the real MicroPython from a card
  event to the OK actions, with an empty journal and 10 employees, and with 100,000 punches in
  the journal and 5,000 employees on the roster: the mean of 8 taps by different employees,
  collector off. The partitions are flash images prepared here and mounted file-backed in the
  guest; a run without the taps (same mount, boot and background ticks) is subtracted.
- ``heap_peak_bytes`` / ``heap_working_set_bytes``: the 50-person day (simulator/door.py) in the
  guest with the receiver on the host, each terminal operation measured as live heap plus all
  it allocates (collector paused); the working set subtracts the heap right after imports.
- ``flash_programs_per_tap`` / ``erases_on_tap_path``: counted by the simulated flash over every
  tap of the same day on CPython.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

SECTOR = 4096

_TAPS = 8
# Collections only at module level, where the C stack is shallow (see _DAY_GUEST).
_TAP_GUEST = """
import gc
gc.disable()
from simulator.doorbench import open_rig, taps
rig = open_rig(%(dir)r, %(journal)d, %(roster)d)
rig.network = False
gc.collect()
shown = taps(rig, %(taps)d, %(measure)d)
assert shown == %(taps)d * %(measure)d, shown
print("ok")
"""

# The day, driven from module level: on the WASI build a collection that starts deep inside C
# code can free objects held only in WebAssembly locals (the defect that
# tests/tools/test_interpreter_issues.py pins), so automatic collection is off and the script
# collects only here, where the C stack is shallow: before each tick, each uplink exchange and
# each tap, which then run with the collector off. The heap in use after one of them is live
# data plus all it allocated; the peak is the largest such figure over the day.
_DAY_GUEST = """
import gc
gc.disable()
import json, host
from simulator.door import EPOCH, Rig, schedule, play, _at
from simulator.doorbench import open_rig
import simulator.doorbench as doorbench
host.call("service", "{}")  # the host module keeps a 64 KiB answer buffer: part of the base
# The day's script (about 200 taps, keys and outages) is the benchmark's data, not the
# terminal's: it is made before the base is taken.
events, window = schedule(50, EPOCH)
events.append((_at(19, 0), -2, "end"))
import micropython
micropython.qstr_info()  # prints the qstr count: compared with the one at the end
gc.collect()
base = gc.mem_alloc()

def service(request, now):
    # Through files, so the transport allocates no more than a socket would: the answer bytes.
    with open("request.bin", "wb") as f:
        f.write(request)
    answer = json.loads(host.call("service", '{"args": [%%d]}' %% now))
    if not answer["ok"]:
        raise OSError(answer["error"])
    with open("answer.bin", "rb") as f:
        return f.read()

class HostRig(Rig):
    def add_maintenance(self, start, end, notice=""):
        host.call("maintenance", json.dumps({"args": [start, end, notice]}))

    def held(self):
        return json.loads(host.call("held", json.dumps({})))["value"]

doorbench.Rig = HostRig
rig = open_rig(%(dir)r, 16, 16, service)
rig.keep = 2  # the rig's own record of screens is not the terminal's heap
gc.collect()
booted = gc.mem_alloc()
assert rig.epoch0 == EPOCH
rig.add_maintenance(window[0], window[1], "maintenance")
peak = 0
peak_minute = 0
peak_what = ""
tap_peak = 0
turns = 0
for event in events:
    while True:
        gc.collect()
        rig.tick()
        used = gc.mem_alloc()
        if used > peak:
            peak, peak_minute, peak_what = used, rig.now // 60000, "tick"
        for _ in range(20):
            gc.collect()
            did = rig.exchange()
            used = gc.mem_alloc()
            turns += 1
            if used > peak:
                peak, peak_minute, peak_what = used, rig.now // 60000, rig.last_exchange
            if not did:
                break
        if rig.now >= event[0]:
            break
        if not did:
            rig.now = min(event[0], rig.now + %(step)d)
    if event[1] != -2:
        gc.collect()
        play(rig, event)
        used = gc.mem_alloc()
        if used > peak:
            peak, peak_minute, peak_what = used, rig.now // 60000, "tap"
        if used > tap_peak:
            tap_peak = used
micropython.qstr_info()
gc.collect()
ok = rig.held() == list(range(1, rig.journal.next_seq)) and rig.journal.unsent_count == 0
print("result", base, booted, peak, peak_minute, tap_peak, turns, ok, gc.mem_alloc(), peak_what)
"""


def _prepare(directory: Path, employees: int, punches: int, journal_sectors: int) -> None:
    """Flash images: a roster fetched from a receiver, ``punches`` already in the journal."""
    from firmware.punch import Punch
    from simulator.door import Rig

    rig = Rig(
        employees=employees,
        journal_sectors=journal_sectors,
        roster_sectors=320 if employees > 100 else 16,
        flash_dir=str(directory),
    )
    while rig.settle(100):  # 5,000 employees come in pages of 20
        pass
    assert rig.roster.count == employees, rig.roster.count
    journal = rig.journal
    for i in range(punches):
        journal.append(Punch(1795000000 + i, 1, 1, bytes([1, 2, 3, 4, i & 255, 0, 0, 1])))
    for flash in (rig.journal_flash, rig.roster_flash, rig.config_flash, rig.log_flash):
        flash.close()


def _tap_fuel(directory: Path, journal: int, roster: int, heap: str) -> int:
    from dakoku.micropython import shared_interpreter

    fuel = []
    for measure in (0, 1):
        code = _TAP_GUEST % {
            "dir": "/img",
            "journal": journal,
            "roster": roster,
            "taps": _TAPS,
            "measure": measure,
        }
        with tempfile.TemporaryDirectory() as scratch:
            img = Path(scratch) / "img"
            img.mkdir()
            for f in directory.iterdir():
                (img / f.name).write_bytes(f.read_bytes())
            res = shared_interpreter().run(
                ["-X", "heapsize=" + heap, "-c", code], scratch=Path(scratch), timeout_s=300
            )
        if not res.ok or b"ok" not in res.stdout:
            raise RuntimeError("guest failed: " + res.stderr.decode(errors="replace"))
        fuel.append(res.fuel_used)
    return (fuel[1] - fuel[0]) // _TAPS


def _day_heap() -> dict:
    from dakoku.micropython import shared_interpreter
    from protocol.memstore import MemoryStore
    from protocol.server import Server
    from simulator.door import SECRET, TENANT, TERMINAL, add_employees

    store = MemoryStore()
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    add_employees(store, 50)
    server = Server(store)

    def service(now: int | None = None) -> int:
        if now is None:
            return 0
        answer = server.handle((scratch_dir / "request.bin").read_bytes(), now)
        (scratch_dir / "answer.bin").write_bytes(answer)
        return len(answer)

    def maintenance(start: int, end: int, notice: str) -> None:
        store.windows.append({"start": start, "end": end, "notice": notice})

    def held() -> list[int]:
        return sorted(store.held(TENANT, TERMINAL))

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        code = _DAY_GUEST % {"dir": ".", "step": 10000}
        res = shared_interpreter().run(
            ["-X", "heapsize=8M", "-c", code],
            scratch=Path(scratch),
            timeout_s=600,
            host_functions={"service": service, "maintenance": maintenance, "held": held},
        )
    if not res.ok:
        detail = res.stderr.decode(errors="replace")[-2000:] or str(res.trap)
        raise RuntimeError(f"guest day failed (status {res.exit_status}): {detail}")
    qstrs = [int(n) for n in re.findall(rb"n_qstr=(\d+)", res.stdout)]
    fields = res.stdout.split(b"\nresult ")[1].split()
    base, booted, peak, minute, tap_peak, turns, ok, end, what = fields
    return {
        "heap_after_imports_bytes": int(base),
        "heap_after_boot_bytes": int(booted),
        "heap_peak_minute_of_day": int(minute),
        "heap_peak_operation": what.decode(),  # tick, tap, or the kind of uplink request
        "heap_peak_bytes": int(peak),
        "heap_working_set_bytes": int(peak) - int(base),
        "heap_working_set_taps_bytes": int(tap_peak) - int(base),
        "heap_live_at_end_bytes": int(end),
        # New qstrs are never freed, and the first past a pool's room allocates a new pool
        # (about 9 KB): tests/tools/test_runtime_qstrs.py keeps this at 0.
        "qstrs_interned_during_day": qstrs[1] - qstrs[0],
        "exchanges_measured": int(turns),
        "day_every_punch_delivered_micropython": ok == b"True",
        "day_fuel_micropython": res.fuel_used,
    }


def _flash_per_tap() -> dict:
    from simulator.door import Rig, day

    rig = Rig(employees=50, journal_sectors=16)
    flashes = (rig.journal_flash, rig.roster_flash, rig.config_flash, rig.log_flash)
    per_tap: list[int] = []
    erases = [0]
    card = rig.terminal.card

    def counted(now_ms, c):
        p0 = sum(f.programs for f in flashes)
        e0 = sum(f.erases for f in flashes)
        out = card(now_ms, c)
        per_tap.append(sum(f.programs for f in flashes) - p0)
        erases[0] += sum(f.erases for f in flashes) - e0
        return out

    rig.terminal.card = counted  # type: ignore[method-assign]
    ok = day(printer=lambda line: None, rig=rig)[0]
    recorded = [n for n in per_tap if n]
    return {
        "flash_programs_per_tap": round(sum(recorded) / len(recorded), 3),
        "flash_programs_per_tap_max": max(per_tap),
        "erases_on_tap_path": erases[0],
        "taps_counted": len(per_tap),
        "day_every_punch_delivered_cpython": ok,
    }


def bench_firmware() -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory() as small, tempfile.TemporaryDirectory() as large:
        _prepare(Path(small), employees=10, punches=0, journal_sectors=16)
        _prepare(Path(large), employees=5000, punches=100_000, journal_sectors=1024)
        out["tap_fuel_small"] = _tap_fuel(Path(small), 16, 16, "1M")
        out["tap_fuel_large"] = _tap_fuel(Path(large), 1024, 320, "1M")
    out["tap_fuel_ratio_large_over_small"] = round(out["tap_fuel_large"] / out["tap_fuel_small"], 3)
    out.update(_day_heap())
    out.update(_flash_per_tap())
    return out


if __name__ == "__main__":
    print(json.dumps(bench_firmware()))
