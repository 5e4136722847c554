"""firmware.bootcount under random boots and power cuts: a hypothesis state machine (CPython).

The one property that matters (PRT-SAFE-1): a value ``advance()`` returned is never returned
again, whatever boots, cuts mid-program or mid-erase, and sector changes come in between.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from firmware.bootcount import BootCounter
from simulator.norflash import PowerCut, SimulatedNorFlash


class Boots(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # 256-byte sectors of 16 records: sector changes (and their erases) come often.
        self.flash = SimulatedNorFlash(256, 2, page_size=32)
        self.used = []

    @rule(count=st.integers(1, 20))
    def boot(self, count):
        for _ in range(count):
            self.used.append(BootCounter.mount(self.flash).advance())

    @rule(step=st.integers(1, 2))
    def cut_while_counting(self, step):
        self.flash.cut_at(step)
        try:
            self.used.append(BootCounter.mount(self.flash).advance())
        except PowerCut:
            pass
        self.flash.disarm()
        self.flash.power_on()

    @invariant()
    def no_value_comes_back(self):
        assert self.used == sorted(set(self.used))
        if self.used:
            assert BootCounter.mount(self.flash).value >= self.used[-1]


Boots.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestBoots = Boots.TestCase
