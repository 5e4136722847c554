"""protocol.commandgate under random answers: a hypothesis state machine (CPython).

PRT-SAFE-3 and PRT-CMD-2, checked after every answer: no command ID runs twice or gets two
results; every command of an answer that was not seen before gets exactly one outcome (run
or a result); what runs stays within the bucket (10 at once, one a minute after).
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from protocol.commandgate import BURST, REFILL_MS, REMEMBERED, CommandGate

_OPS = st.sampled_from(
    [
        {"op": "reboot"},
        {"op": "upload_now"},
        {"op": "set_time", "time": 1795000000},
        {"op": "set_config", "config": {"version": 5, "values": {"language": "en"}}},
        {"op": "resend", "from": 1, "to": 9},
    ]
)


class Gate(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.gate = CommandGate()
        self.now = 0
        self.start = 0
        self.next_id = 0
        self.ran = []  # IDs run, in order
        self.results = []  # IDs with a result
        self.sent = []  # every ID sent, in order

    @rule(ops=st.lists(_OPS, max_size=20), repeats=st.integers(0, 3))
    def answer(self, ops, repeats):
        commands = []
        for op in ops:
            self.next_id += 1
            cmd = dict(op)
            cmd["id"] = f"c{self.next_id}"
            commands.append(cmd)
        old = self.sent[-repeats:] if repeats else []
        for ident in old:  # the receiver sends some recent IDs again
            commands.append({"id": ident, "op": "upload_now"})
        fresh = [c["id"] for c in commands if c["id"] not in self.sent]
        results = []
        allowed = self.gate.admit(self.now, commands, lambda i, s, d: results.append(i))
        ran = [c["id"] for c in allowed]
        assert sorted(ran + results) == sorted(fresh)  # one outcome each, for new IDs only
        self.ran.extend(ran)
        self.results.extend(results)
        self.sent.extend(fresh)

    @rule(ms=st.integers(0, 5 * REFILL_MS))
    def wait(self, ms):
        self.now += ms

    @invariant()
    def nothing_twice(self):
        assert len(self.ran) == len(set(self.ran))
        assert len(self.results) == len(set(self.results))
        assert not set(self.ran) & set(self.results)

    @invariant()
    def within_the_bucket(self):
        assert len(self.ran) <= BURST + (self.now - self.start) // REFILL_MS


assert REMEMBERED >= 20 + 3  # the repeats below are always within what the gate remembers
Gate.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestGate = Gate.TestCase
