"""The finger modules' figures for ``dakoku bench board`` (virtual time, the real drivers on the
simulated modules, whose times are the R503 datasheet's: image < 0.2 s, features < 0.5 s,
1:N < 10 ms a fingerprint; the XG vein module's Verify 400 ms is not from a datasheet).

- ``finger_identify_ms``: a finger placed on the sensor to the driver's ``match``, 1:N over a
  library of 1,000 templates, the finger on the last page (the whole library searched), the
  finger placed just after a GenImg found the sensor empty (the longest wait for the next);
  ``finger_identify_ms_first_page``: the same, found on page 0;
- ``finger_identify_ms_card_then_finger``: the 1:1 Match of the card holder's two templates;
- ``finger_identify_ms_hybrid``: print (1:N of 1,000) then the vein's Verify;
- ``finger_identify_wire_bytes``: bytes both ways on the 57600-baud line for one 1:N match;
- ``finger_poll_alloc_bytes_micropython``: heap allocated per poll by the R503 driver on the
  real MicroPython while the sensor is empty (GenImg answered "no finger" every 100 ms), the
  answers replayed from preallocated buffers (``simulator/readers/replay.py``), collector off,
  ``gc.mem_alloc()`` before and after; ``…_resting``: a finger resting after its report;
- ``finger_statemachine_examples``: the hypothesis state machine of tests/fingers, run longer.
"""

from __future__ import annotations

LIBRARY = 1000

_GUEST = """
import gc
gc.disable()
from simulator.fingers.desk import SimulatedFinger
from simulator.readers.replay import ReplayUart
sim = SimulatedFinger()
sim.run(1000)
if %(resting)d:
    sim.module.place("alice")
    sim.run(2000)
d = sim.driver
d.exchange.uart = ReplayUart([%(answer)r])
now = sim.now
for i in range(40):
    d.poll(now)
    now += 20
polls0 = d.polls
failures0 = d.failures
gc.collect()
before = gc.mem_alloc()
for i in range(%(turns)d):
    d.poll(now)
    now += 20
after = gc.mem_alloc()
print(after - before, d.polls - polls0, d.failures - failures0)
"""


def _alloc(resting: bool) -> int:
    import tempfile
    from pathlib import Path

    from dakoku.micropython import shared_interpreter
    from hardware import r30x

    code = (r30x.OK if resting else r30x.NO_FINGER,)
    answer = r30x.encode(r30x.PID_ACK, bytes(code))
    guest = _GUEST % {"resting": int(resting), "answer": answer, "turns": 200}
    with tempfile.TemporaryDirectory() as scratch:
        res = shared_interpreter().run(
            ["-X", "heapsize=8M", "-c", guest], scratch=Path(scratch), timeout_s=300
        )
    if not res.ok:
        raise RuntimeError("guest failed: " + res.stderr.decode(errors="replace"))
    alloc, polls, failures = (int(v) for v in res.stdout.split())
    assert polls > 0 and failures == 0, (polls, failures)
    return alloc // polls


def _placed_to_event(desk, finger, expect=None) -> tuple[int, int]:
    """(ms from placing ``finger`` to the driver's event, wire bytes), placed just after a
    GenImg answered "no finger"."""
    module = desk.module
    line = desk.line
    prints = getattr(desk, "prints", desk.driver)
    sent = len(module.commands)
    while True:  # wait for the end of a GenImg that found the sensor empty
        desk.turn()
        if len(module.commands) > sent and module.commands[-1] == 0x01 and not prints.busy():
            break
    if expect is not None:
        desk.driver.expect(expect, desk.now)
    bytes0 = line.written + line.sent
    module.place(finger)
    if hasattr(desk, "vein"):
        desk.vein.place(finger)
    start = desk.now
    event = desk.until_event(30000)
    assert event is not None and event.result == "match", event
    took = desk.now - start
    module.lift()
    if hasattr(desk, "vein"):
        desk.vein.lift()
    desk.run(1000)
    return took, line.written + line.sent - bytes0


def bench_finger() -> dict:
    from simulator.fingers.desk import SimulatedFinger, SimulatedHybrid

    desk = SimulatedFinger(capacity=LIBRARY)
    for page in range(LIBRARY):
        desk.module.enrol(page, f"finger-{page}")
    last_ms, wire = _placed_to_event(desk, f"finger-{LIBRARY - 1}")
    first_ms, _ = _placed_to_event(desk, "finger-0")
    one_ms, _ = _placed_to_event(desk, "finger-7", expect=(6, 7))

    hybrid = SimulatedHybrid()
    hybrid.module.capacity = LIBRARY
    hybrid.prints.selftest()  # the library size again
    for page in range(LIBRARY):
        hybrid.enrol(page, f"finger-{page}")
    hybrid_ms, _ = _placed_to_event(hybrid, f"finger-{LIBRARY - 1}")
    return {
        "finger_identify_ms": last_ms,
        "finger_identify_ms_first_page": first_ms,
        "finger_identify_ms_card_then_finger": one_ms,
        "finger_identify_ms_hybrid": hybrid_ms,
        "finger_identify_wire_bytes": wire,
        "finger_poll_alloc_bytes_micropython": _alloc(False),
        "finger_poll_alloc_bytes_micropython_resting": _alloc(True),
        "finger_statemachine_examples": _statemachine(300),
    }


def _statemachine(examples: int) -> int:
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[2] / "tests" / "fingers"
    sys.path.insert(0, str(tests))
    try:
        from finger_machine import run_machine
    finally:
        sys.path.remove(str(tests))
    run_machine(examples)
    return examples
