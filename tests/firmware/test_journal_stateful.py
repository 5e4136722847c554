"""The journal as a state machine under every fault class at random (hypothesis.stateful).

Appends, acknowledgements (up to a number and single), prepares and reboots interleave with
faults of docs/JOURNAL.md ("Fault model"): power cuts mid-operation, ignored programs, stuck
bytes, silent and partial erases, decayed bits. After every reboot the invariants of
simulator/powercut.py are checked against what the workload was told. A small number of
examples here; ``dakoku bench journal`` does not run this (its sweeps take every point).
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware.journal import FULL, Journal
from simulator.norflash import PowerCut, SimulatedNorFlash
from simulator.powercut import (
    Model,
    SweepResult,
    Workload,
    _record_seq_at,
    check_accepts_appends,
    check_journal,
)

MAX_FAULTS = 3  # per example: the invariants are per fault, and faults here are independent


class JournalUnderFaults(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.flash = SimulatedNorFlash(sector_size=512, sector_count=4, seed=7)
        self.model = Model()
        self.workload = Workload()
        self.result = SweepResult()
        self.journal = Journal.mount(self.flash)
        self.faults = 0

    def _guarded(self, op):
        try:
            op()
        except PowerCut:
            self.reboot()

    @rule(n=st.integers(1, 20))
    def append(self, n):
        def op():
            for _ in range(n):
                if self.workload.append(self.journal, self.model) == FULL:
                    break

        self._guarded(op)

    @rule(back=st.integers(0, 30))
    def acknowledge_up_to(self, back):
        top = self.journal.next_seq - 1 - back
        if top > 0:
            self._guarded(lambda: self.workload.mark_up_to(self.journal, self.model, top))

    @rule(back=st.integers(1, 30))
    def acknowledge_one(self, back):
        seq = self.journal.next_seq - back
        if seq > 0:
            self._guarded(lambda: self.workload.mark_one(self.journal, self.model, seq))

    @rule()
    def prepare(self):
        self._guarded(self.journal.prepare)

    @rule()
    def reboot(self):
        while True:  # a cut still armed may strike the recovery too (two cuts in a row)
            self.flash.power_on()
            try:
                self.journal = Journal.mount(self.flash)
                check_journal(self.journal, self.model, self.result, 0)
                break
            except PowerCut:
                continue
        if self.model.inflight is not None:
            # The append cut short may have landed whole: from now on it is a stored punch
            # (never answered OK) that may be delivered like any other.
            for punch in self.journal.unsent():
                if punch.seq not in self.model.appended and (
                    punch.key()[1:] == self.model.inflight
                ):
                    self.model.appended[punch.seq] = self.model.inflight
                    self.model.top = max(self.model.top, punch.seq)
            self.model.inflight = None

    @precondition(lambda self: self.faults < MAX_FAULTS)
    @rule(step=st.integers(1, 12))
    def power_cut(self, step):
        self.faults += 1
        self.flash.cut_at(step)

    @precondition(lambda self: self.faults < MAX_FAULTS)
    @rule(step=st.integers(1, 12))
    def ignored_program(self, step):
        self.faults += 1
        self.flash.ignore_program_at(step)

    @precondition(lambda self: self.faults < MAX_FAULTS)
    @rule(step=st.integers(1, 3), partial=st.booleans())
    def failed_erase(self, step, partial):
        self.faults += 1
        self.flash.fail_erase_at(step, partial)

    @precondition(lambda self: self.faults < MAX_FAULTS)
    @rule(addr=st.integers(0, 2047))
    def stuck_byte(self, addr):
        self.faults += 1
        self.flash.stick(addr)

    @precondition(lambda self: self.faults < MAX_FAULTS)
    @rule(bit=st.integers(0, 2048 * 8 - 1))
    def decay(self, bit):
        self.faults += 1
        hit = _record_seq_at(self.flash, bit >> 3, self.journal)
        if hit:
            self.model.spared[hit] = True
        self.flash.flip(bit >> 3, bit & 7)

    @invariant()
    def nothing_went_wrong(self):
        assert self.result.failures == [], self.result.failures
        assert self.model.reused == 0

    def teardown(self):
        self.flash.disarm()
        self.reboot()
        check_accepts_appends(self.journal, self.model, self.result, 0)
        assert self.result.failures == [], self.result.failures


JournalUnderFaults.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
test_journal_under_random_faults = JournalUnderFaults.TestCase
