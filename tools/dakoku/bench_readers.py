"""``dakoku bench readers``: the card readers' figures.

- ``poll_wire_ms_<chip>``: modelled time of one FeliCa poll exchange with a card present:
  every byte of the command, the ACK and the response on the wire at 115200 baud (10 bits a
  byte; the RC-S380: one 1 ms USB frame per packet) plus the poll's time on air as nfcpy
  budgets it (3.625 ms + TSN × 1.208 ms). ``poll_cycle_ms_<chip>`` is the whole cycle (the
  RC-S620S turns RF off, the RC-S380 sets RF and protocol first).
- ``poll_alloc_bytes_micropython_<chip>``: heap allocated per poll cycle by the driver on the
  real MicroPython, card present and already reported, and with an empty field, after
  warm-up: the chip's recorded answers are replayed from preallocated buffers
  (``simulator/readers/replay.py``) so only the driver is counted; collector off, measured
  with ``gc.mem_alloc()``.
  ``pn532_i2c`` is the PN532 over I2C (``ReplayI2C``: status byte, ACK, response; the
  transport's flush before each command included).
- ``poll_fuel_micropython_<chip>``: wasmtime fuel per poll cycle (same replay; a run without
  the cycles subtracted).
- ``resync_polls``: poll cycles from a burst of garbage on the line (64 random bytes with
  false start codes) to the next read of a card, worst over 40 bursts and both serial chips.
- ``nfcpy_reads``: IDms nfcpy 1.0.4 read through the simulated PN532, RC-S620S and RC-S380.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

CHIPS = ("pn532", "rcs620s", "rcs380")
ALLOC_CHIPS = (*CHIPS, "pn532-i2c")  # heap and fuel also over I2C (no wire-time model there)
_WARM_MS = 2000
_CYCLES = 20

_GUEST = """
import gc
gc.disable()
from simulator.readers.desk import SimulatedReader
from simulator.readers.field import FelicaCard
from simulator.readers.replay import ReplayI2C, ReplayPackets, ReplayUart
sim = SimulatedReader(%(kind)r)
if %(card)d:
    sim.field.place(FelicaCard())
sim.run(%(start)d - sim.now)
script = %(script)r
if %(kind)r == "rcs380":
    sim.link.transport = ReplayPackets(script)
elif %(kind)r == "pn532-i2c":
    sim.link.transport.i2c = ReplayI2C(script)
else:
    sim.link.transport.uart = ReplayUart(script)
reader = sim.reader
now = %(start)d
for i in range(%(warm)d):
    reader.poll(now)
    now += 20
polls0 = reader.polls
gc.collect()
before = gc.mem_alloc()
for i in range(%(turns)d):
    reader.poll(now)
    now += 20
after = gc.mem_alloc()
print(after - before, reader.polls - polls0, reader.failures)
"""


def _script(kind: str, card: bool) -> tuple[list[bytes], int]:
    from simulator.readers.desk import SimulatedReader
    from simulator.readers.field import FelicaCard
    from simulator.readers.replay import record

    sim = SimulatedReader(kind)
    if card:
        sim.field.place(FelicaCard())
    sim.run(_WARM_MS)
    while sim.reader.busy():
        sim.turn()
    start = sim.now
    script, _end, _bus = record(sim, start, 3)
    # the first recorded write starts a cycle: keep one cycle's worth
    per_cycle = len(script) // 3
    return script[:per_cycle], start


def _guest(kind: str, card: bool, turns: int) -> tuple[int, int, int, int]:
    from dakoku.micropython import shared_interpreter

    script, start = _script(kind, card)
    code = _GUEST % {
        "kind": kind,
        "card": int(card),
        "start": start,
        "script": script,
        "warm": 40,
        "turns": turns,
    }
    with tempfile.TemporaryDirectory() as scratch:
        res = shared_interpreter().run(
            ["-X", "heapsize=8M", "-c", code], scratch=Path(scratch), timeout_s=300
        )
    if not res.ok:
        raise RuntimeError("guest failed: " + res.stderr.decode(errors="replace"))
    alloc, polls, failures = (int(v) for v in res.stdout.split())
    return alloc, polls, failures, res.fuel_used


def _alloc_and_fuel(kind: str) -> dict:
    out: dict = {}
    turns = _CYCLES * 5  # 100 ms between cycles: five turns each
    alloc, polls, failures, fuel = _guest(kind, True, turns)
    _a0, _p0, _f0, fuel0 = _guest(kind, True, 0)
    if failures or polls < _CYCLES - 1:
        raise RuntimeError(f"{kind}: replay went wrong ({polls} polls, {failures} failures)")
    name = kind.replace("-", "_")
    out[f"poll_alloc_bytes_micropython_{name}"] = alloc // polls
    out[f"poll_fuel_micropython_{name}"] = (fuel - fuel0) // polls
    alloc, polls, failures, _fuel = _guest(kind, False, turns)
    if failures or not polls:
        raise RuntimeError(f"{kind}: empty-field replay went wrong")
    out[f"poll_alloc_bytes_micropython_{name}_empty"] = alloc // polls
    return out


def _wire(kind: str) -> dict:
    """Bytes of one steady cycle with a card present, per exchange, and the modelled times."""
    from hardware import felica

    script, _start = _script(kind, True)
    sim_frames = _frames(kind)
    air_ms = 3.625 + 0 * 1.208  # one time slot: the drivers poll with TSN 0
    exchanges = []
    for (code, frame), answer in zip(sim_frames, script, strict=True):
        if kind == "rcs380":
            ms = 3.0  # command, ACK and response: one USB frame each
        else:
            ms = (len(frame) + len(answer)) * 10 / 115200 * 1000
        if code in (felica.CMD_IN_LIST_PASSIVE_TARGET, 0x04):
            ms += air_ms
            poll_ms = ms
        exchanges.append(ms)
    return {
        f"poll_wire_ms_{kind}": round(poll_ms, 2),
        f"poll_cycle_ms_{kind}": round(sum(exchanges), 2),
        f"poll_cycle_bytes_{kind}": sum(len(f) for _c, f in sim_frames) + sum(map(len, script)),
    }


def _frames(kind: str) -> list[tuple[int, bytes]]:
    """The frames the driver writes in one poll cycle (poll program, then after_poll)."""
    from simulator.readers.desk import SimulatedReader

    chip = SimulatedReader(kind, selftest=False).reader.chip
    return [(step[1], bytes(step[0])) for step in chip.poll + chip.after_poll]


def _resync() -> int:
    from simulator.readers.desk import SimulatedReader
    from simulator.readers.field import FelicaCard

    worst = 0
    seed = 99
    for kind in ("pn532", "rcs620s"):
        for _burst in range(20):
            sim = SimulatedReader(kind)
            sim.run(300)
            garbage = bytearray()
            for _ in range(64):
                seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
                garbage.append((seed >> 16) & 0xFF)
            garbage[10:13] = b"\x00\x00\xff"  # a false start code in the middle
            sim.line.insert(bytes(garbage))
            sim.field.place(FelicaCard())
            polls = sim.reader.polls
            cards = []
            while not cards:
                cards = sim.cards(20)
                if sim.now > 10_000:
                    raise RuntimeError("no read after garbage")
            worst = max(worst, sim.reader.polls - polls)
    return worst


def _nfcpy_reads() -> int:
    try:
        import nfc.clf
        import nfc.clf.pn532
        import nfc.clf.rcs380
        import nfc.clf.rcs956
        import nfc.clf.transport
    except ImportError:
        return 0
    from simulator.readers.field import FelicaCard, Field
    from simulator.readers.pn532 import PN532Chip
    from simulator.readers.pty import PtyChip
    from simulator.readers.rcs380 import RCS380Chip
    from simulator.readers.rcs620s import RCS620SChip
    from simulator.readers.usb import NfcpyTransport

    idm = bytes.fromhex("012e4cd2000a0001")
    reads = 0
    for chip_type, module in ((PN532Chip, nfc.clf.pn532), (RCS620SChip, nfc.clf.rcs956)):
        field = Field()
        field.place(FelicaCard(idm))
        with PtyChip(chip_type(field)) as pty:
            device = module.init(nfc.clf.transport.TTY(pty.path))
            device._path = pty.path
            target = device.sense_ttf(nfc.clf.RemoteTarget("212F"))
            reads += target is not None and bytes(target.sensf_res[1:9]) == idm
            device.close()
    field = Field()
    field.place(FelicaCard(idm))
    device = nfc.clf.rcs380.init(NfcpyTransport(RCS380Chip(field)))
    device._path = "usb:simulated"
    target = device.sense_ttf(nfc.clf.RemoteTarget("212F"))
    reads += target is not None and bytes(target.sensf_res[1:9]) == idm
    device.close()
    return reads


def bench_readers() -> dict:
    out: dict = {}
    for kind in CHIPS:
        out.update(_wire(kind))
    for kind in ALLOC_CHIPS:
        out.update(_alloc_and_fuel(kind))
    out["poll_alloc_bytes_micropython"] = max(
        out[f"poll_alloc_bytes_micropython_{k.replace('-', '_')}{e}"]
        for k in ALLOC_CHIPS
        for e in ("", "_empty")
    )
    out["resync_polls"] = _resync()
    out["nfcpy_reads"] = _nfcpy_reads()
    return out
