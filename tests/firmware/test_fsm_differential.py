"""firmware/fsm.py and ``transitions`` run the same table and must agree, state for state."""

import random

import pytest
from dakoku.statediagram import load, mermaid

from firmware.fsm import Machine
from firmware.states import STATES, TABLE

EVENTS = sorted({row[1] for row in TABLE})
GUARDS = sorted({g.lstrip("!") for row in TABLE for g in row[3]})
ACTIONS = sorted({a for row in TABLE for a in row[4]})


class Stub:
    """Guards are a pure function of (guard, step): both engines see the same answers whatever
    order they ask in. Some actions fire a follow-up event, to exercise the queue."""

    def __init__(self, seed):
        self.seed = seed
        self.step = 0
        self.machine = None
        self.calls = []

    def __getattr__(self, name):
        if name in GUARDS:
            return lambda data=None: random.Random(f"{self.seed}/{name}/{self.step}").random() < 0.5
        if name in ACTIONS:

            def act(data=None):
                self.calls.append(name)
                if name == "record":  # as the real model does: a follow-up event
                    self.machine.fire_follow_up("stored")

            return act
        raise AttributeError(name)


class OurEngine:
    def __init__(self, stub):
        self.m = Machine(stub, STATES, TABLE, "booting")
        stub.machine = self

    def fire_follow_up(self, event):
        self.m.fire(event)

    def fire(self, event):
        self.m.fire(event)

    @property
    def state(self):
        return self.m.state


class TheirEngine:
    def __init__(self, stub):
        self.stub = stub
        self.m = load(stub)
        stub.machine = self

    def fire_follow_up(self, event):
        self.stub.trigger(event)

    def fire(self, event):
        self.stub.trigger(event)

    @property
    def state(self):
        return self.stub.state


@pytest.mark.parametrize("seed", range(40))
def test_same_state_trace_for_random_event_sequences(seed):
    rng = random.Random(seed)
    ours, theirs = Stub(seed), Stub(seed)
    a, b = OurEngine(ours), TheirEngine(theirs)
    trace_a, trace_b = [], []
    for step in range(300):
        event = rng.choice(EVENTS)
        ours.step = theirs.step = step
        a.fire(event)
        b.fire(event)
        trace_a.append(a.state)
        trace_b.append(b.state)
    assert trace_a == trace_b
    assert ours.calls == theirs.calls
    assert len(set(trace_a)) >= 6  # the walk visits much of the machine


def test_every_state_is_reachable_and_every_row_is_well_formed():
    dests = {row[2] for row in TABLE if row[2] is not None}
    assert set(STATES) - {"booting"} <= dests
    for source, _event, _dest, guards, actions in TABLE:
        assert isinstance(guards, tuple) and isinstance(actions, tuple)
        assert source == "*" or isinstance(source, (str, tuple))


def test_diagram_names_every_state():
    text = mermaid()
    assert text.count("stateDiagram-v2") == 1
    for state in STATES:
        assert f'state "{state}"' in text
