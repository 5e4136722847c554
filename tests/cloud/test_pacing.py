"""The global ingest budget: admits up to its rate, gives refused requests successive slots."""

from __future__ import annotations

import pytest

from simulator.cloud.pacing import Pacer


class FakeTime:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_admits_within_rate_and_burst():
    now = FakeTime()
    pacer = Pacer(rate=1000, burst_s=1.0, clock=now)
    assert [pacer.wait("T%d" % i, 100) for i in range(10)] == [0] * 10  # 1 s worth
    assert pacer.wait("T10", 100) > 0
    now.t += 0.2  # 200 punches of room again
    assert pacer.wait("T12", 100) == 0
    assert pacer.wait("T13", 0) == 0  # a request without punches is never paced


def test_a_stampede_is_given_spread_slots_and_drains_at_the_budget():
    """1,000 terminals x 100 punches at 10,000 punches/s: every request gets in within the
    budget's time (10 s plus burst and jitter), and never more than the budget per second."""
    now = FakeTime()
    pacer = Pacer(rate=10_000, burst_s=1.0, jitter_s=2.0, clock=now)
    due = {"T%04d" % i: now.t for i in range(1000)}
    admitted_at = {}
    waits = []
    while due:
        now.t = min(due.values())
        for name in [n for n, t in due.items() if t <= now.t]:
            wait = pacer.wait(name, 100)
            if wait:
                waits.append(wait)
                due[name] = now.t + wait
            else:
                admitted_at[name] = now.t
                del due[name]
    start = 1000.0
    assert len(admitted_at) == 1000
    assert max(admitted_at.values()) - start <= 100_000 / 10_000 + 1 + 2 + 1
    assert len(set(waits)) > 5  # spread, not one value for everyone
    per_second = {}
    for t in admitted_at.values():
        per_second[int(t - start)] = per_second.get(int(t - start), 0) + 100
    # After the first second's burst no second admits more than the rate plus the burst.
    assert max(v for k, v in per_second.items() if k >= 1) <= 20_000


def test_slots_follow_each_other_and_waits_are_capped():
    now = FakeTime()
    pacer = Pacer(rate=1, burst_s=1, jitter_s=0, max_wait_s=60, clock=now)
    assert pacer.wait("A", 1) == 0
    assert pacer.wait("B", 1) == 1  # fits once A's punch has drained
    assert pacer.wait("C", 1) == 2  # after B's slot
    assert pacer.wait("D", 10_000) == 3  # its slot starts after C's...
    assert pacer.wait("E", 1) == 60  # ...and runs for 10,000 s: E's wait is capped
    with pytest.raises(ValueError):
        Pacer(rate=0)
