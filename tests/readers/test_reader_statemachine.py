"""A rule-based state machine over the reader and a simulated chip (CPython, hypothesis):
cards come and go, the line drops, flips, inserts and truncates bytes, dies and comes back,
runs at the wrong baud rate, the chip resets or answers late. Whatever happens, ``poll`` never
raises, faults and recoveries alternate, no IDm is reported that no card holds, and once
everything is healthy again the next tap is read and the exchanges are in step (between two
cycles the chip holds no answer the driver has not read)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware.terminal import Card
from simulator.readers.desk import SimulatedReader
from simulator.readers.field import FelicaCard

IDMS = [bytes([1, 46, 76, 210, 0, i, 0, 1]) for i in range(4)]


class ReaderMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.sim: SimulatedReader | None = None
        self.faulted = False
        self.cards: list[FelicaCard] = []

    @rule(kind=st.sampled_from(["pn532", "rcs620s", "rcs380", "pn532-i2c"]))
    @precondition(lambda self: self.sim is None)
    def start(self, kind):
        self.sim = SimulatedReader(kind)
        assert self.sim.selftest_result is None

    def _events(self, ms):
        assert self.sim is not None
        for e in self.sim.run(ms):
            if isinstance(e, Card):
                held = [c.idm for c in self.sim.field.cards] + [c.idm for c in self.cards]
                assert e.idm in held or e.idm in IDMS, e.idm.hex()
            elif e == ("ok",):
                assert self.faulted, "ok without a fault before it"
                self.faulted = False
            else:
                assert e[0] == "fault" and isinstance(e[1], str) and e[1]
                assert not self.faulted, "two faults without a recovery"
                self.faulted = True

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: self.sim is not None)
    def place(self, i):
        card = FelicaCard(IDMS[i])
        self.cards.append(card)
        self.sim.field.place(card)

    @rule()
    @precondition(lambda self: self.sim is not None)
    def remove_all(self):
        self.sim.field.remove()

    @rule(ms=st.integers(20, 600))
    @precondition(lambda self: self.sim is not None)
    def poll(self, ms):
        self._events(ms)

    @rule(what=st.sampled_from(["flip", "drop", "insert", "truncate"]), at=st.integers(0, 30))
    @precondition(lambda self: self.sim is not None and self.sim.kind in ("pn532", "rcs620s"))
    def spoil(self, what, at):
        line = self.sim.line
        line.start = at
        if what == "flip":
            line.flip(1, skip=at % 2)  # one bit: an 8-bit sum catches it
        elif what == "drop":
            line.drop(1 + at % 3, skip=at % 2)
        elif what == "insert":
            line.insert(bytes([0, 0, 0xFF, at, 0x55, 0xFF, 0]))
        else:
            line.truncate(at, skip=at % 2)

    @rule(off=st.booleans())
    @precondition(lambda self: self.sim is not None)
    def cut(self, off):
        self.sim.cut(off)

    @rule()
    @precondition(lambda self: self.sim is not None and self.sim.kind in ("pn532", "rcs620s"))
    def wrong_baud(self):
        self.sim.line.host_baud = 9600

    @rule(ms=st.sampled_from([0, 30, 90, 150, 400]))
    @precondition(lambda self: self.sim is not None and self.sim.kind != "rcs380")
    def slow_chip(self, ms):
        self.sim.bus.delay_ms = ms  # answers come late (past the driver's time-outs from 100)

    @rule()
    @precondition(lambda self: self.sim is not None)
    def chip_reset(self):
        self.sim.chip.power_cycle()

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: self.sim is not None)
    def heal_and_tap(self, i):
        sim = self.sim
        sim.cut(False)
        if sim.kind in ("pn532", "rcs620s"):
            sim.line.host_baud = 115200
        if sim.kind != "rcs380":
            sim.bus.delay_ms = 0
        sim.field.remove()
        self._events(3000)
        assert not self.faulted, sim.reader.last_error
        if sim.kind != "rcs380":
            self._to_rest()
            assert sim.bus.in_flight() == 0, "an answer left unread: the link is out of step"
        card = FelicaCard(IDMS[i])
        sim.field.place(card)
        got = [e for e in sim.run(600) if isinstance(e, Card)]
        sim.field.remove()
        self._events(300)
        assert len(got) == 1, got
        assert got[0].idm == IDMS[i] and got[0].readable and got[0].stable

    def _to_rest(self):
        """Poll until no exchange is under way (the end of a cycle)."""
        for _ in range(50):
            if not self.sim.reader.busy():
                return
            self._events(20)

    @invariant()
    def reader_is_consistent(self):
        if self.sim is not None:
            assert self.sim.reader.faulted == self.faulted


TestReaderMachine = ReaderMachine.TestCase
TestReaderMachine.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
