"""The finger modules' rule-based state machine (CPython, hypothesis), shared by
tests/fingers/test_finger_statemachine.py (bounded) and ``dakoku bench board`` (longer).

Fingers are placed (well or badly) and lifted, on the R503 alone or on a hybrid reader; the
line dies and comes back, bits flip, the module answers unknown codes or spoilt checksums;
enrolments start and are cancelled. Whatever happens: ``poll`` never raises; faults and
recoveries alternate; a ``match`` names a page holding a finger placed since the last lift
(never another person's); a finger resting on the sensor is reported at most once per
placement; and once everything is healthy again, an enrolled finger is matched.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware.terminal import Finger
from simulator.fingers.desk import SimulatedFinger, SimulatedHybrid

PEOPLE = ["p0", "p1", "p2", "stranger"]


class FingerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.sim: SimulatedFinger | None = None
        self.faulted = False
        self.placed: str | None = None
        self.seen: set[str | None] = set()  # fingers placed since the last lift (or heal)
        self.reports_this_placement = 0

    @rule(hybrid=st.booleans())
    @precondition(lambda self: self.sim is None)
    def start(self, hybrid):
        self.sim = SimulatedHybrid() if hybrid else SimulatedFinger()
        assert self.sim.selftest_result is None
        for page, who in enumerate(PEOPLE[:3]):
            if isinstance(self.sim, SimulatedHybrid):
                self.sim.enrol(page, who)
            else:
                self.sim.module.enrol(page, who)

    def _sim(self) -> SimulatedFinger:
        assert self.sim is not None
        return self.sim

    def _events(self, ms):
        sim = self._sim()
        for e in sim.run(ms):
            if isinstance(e, tuple):
                if e == ("ok",):
                    assert self.faulted, "ok without a fault before it"
                    self.faulted = False
                else:
                    assert e[0] == "fault" and isinstance(e[1], str) and e[1], e
                    assert not self.faulted, "two faults without a recovery"
                    self.faulted = True
                continue
            assert isinstance(e, Finger)
            if e.result == "match":
                library = sim.module.library
                # the finger whose image was taken: one placed since the last lift (a finger
                # swapped for another without a lift may still be the one reported)
                assert library.get(e.template) in self.seen, (e.template, self.seen)
            if e.result in ("match", "no_match", "poor", "disagree", "no_vein"):
                self.reports_this_placement += 1
                assert self.reports_this_placement <= 1 or self._spoilt, "reported twice"

    _spoilt = False

    @rule(who=st.sampled_from(PEOPLE), quality=st.sampled_from(["good", "good", "few", "smudged"]))
    @precondition(lambda self: self.sim is not None)
    def place(self, who, quality):
        sim = self._sim()
        sim.module.place(who, quality)
        if isinstance(sim, SimulatedHybrid):
            sim.vein.place(who)
        self.placed = who
        self.seen.add(who)
        self.reports_this_placement = 0
        self._spoilt = False

    @rule()
    @precondition(lambda self: self.sim is not None)
    def lift(self):
        sim = self._sim()
        sim.module.lift()
        if isinstance(sim, SimulatedHybrid):
            sim.vein.lift()
        self._events(800)  # the driver sees the empty sensor before the next placement
        self.placed = None
        self.seen = set()
        self.reports_this_placement = 0

    @rule(ms=st.integers(20, 3000))
    @precondition(lambda self: self.sim is not None)
    def poll(self, ms):
        self._events(ms)

    @rule(what=st.sampled_from(["flip", "bad_sum", "unknown", "dead", "alive"]))
    @precondition(lambda self: self.sim is not None)
    def spoil(self, what):
        sim = self._sim()
        self._spoilt = True  # a failed exchange may end in a second report of the same finger
        if what == "flip":
            sim.line.flip(1)
        elif what == "bad_sum":
            sim.module.bad_sum = 1
        elif what == "unknown":
            sim.module.unknown_code = 0x42
        else:
            sim.line.dead = what == "dead"

    @rule(page=st.sampled_from([None, 5]))
    @precondition(lambda self: self.sim is not None and not self._sim().driver.enrolling())
    def start_enrol(self, page):
        self._sim().driver.start_enrol(page)
        self._spoilt = True

    @rule()
    @precondition(lambda self: self.sim is not None)
    def cancel_enrol(self):
        self._sim().driver.cancel_enrol()

    @rule(page=st.integers(0, 2))
    @precondition(lambda self: self.sim is not None)
    def heal_and_identify(self, page):
        sim = self._sim()
        sim.driver.cancel_enrol()
        sim.line.dead = False
        sim.module.bad_sum = 0
        sim.module.unknown_code = None
        sim.module.lift()
        if isinstance(sim, SimulatedHybrid):
            sim.vein.lift()
            sim.vein_line.dead = False
        self.placed = None
        # 8 s: a vein Verify started while the finger was lifted waits 6 s for it, then says
        # "no vein" (the simulated module looks at the sensor when a command arrives)
        self._events(8000)
        assert not self.faulted, sim.driver.last_error
        who = sim.module.library.get(page)
        if who is None or who == "stranger":
            return
        self.placed = who
        self.seen = {who}
        self.reports_this_placement = 0
        self._spoilt = False
        if isinstance(sim, SimulatedHybrid):
            sim.vein.place(who)
        sim.module.place(who)
        got = [e for e in sim.run(3000) if isinstance(e, Finger)]
        sim.module.lift()
        if isinstance(sim, SimulatedHybrid):
            sim.vein.lift()
        self._events(800)
        self.placed = None
        self.seen = set()
        matches = [(e.result, e.template) for e in got]
        assert len(matches) == 1 and matches[0][0] == "match", matches
        assert sim.module.library[matches[0][1]] == who

    @invariant()
    def driver_is_consistent(self):
        if self.sim is not None and not isinstance(self.sim, SimulatedHybrid):
            assert self.sim.driver.faulted == self.faulted


def run_machine(examples: int) -> None:
    test = FingerMachine.TestCase
    test.settings = settings(max_examples=examples, stateful_step_count=25, deadline=None)
    import io
    import unittest

    out = io.StringIO()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(test)
    result = unittest.TextTestRunner(stream=out, verbosity=0).run(suite)
    if not result.wasSuccessful():
        raise AssertionError("the finger state machine failed:\n" + out.getvalue())
