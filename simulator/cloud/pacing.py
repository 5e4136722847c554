"""A global ingest budget for the receiver (PRT-SRV-4, MNT-04/MNG-05: the resend stampede).

When maintenance ends, every terminal of a fleet comes back at once with its backlog. Refusing
them all with the same ``Retry-After`` only moves the stampede; accepting them all makes every
request slow. The pacer admits punches up to ``rate`` per second (with ``burst_s`` seconds of
slack) and gives a refused request a *slot*: the moment the budget, after the work already
admitted and promised, has room for it, plus a stable per-terminal jitter. So the backlog
drains at the budget's rate, in order of arrival, and the ``Retry-After`` values are spread.

Fair per terminal:

- the budget's timeline counts admitted work *and* promised slots, so a request without a slot
  never takes room promised to one that was told to come back;
- a terminal holds at most one slot. Asking again before it (ignoring ``Retry-After``) is
  answered with the time left to that slot and reserves nothing more, so a client that hammers
  gets no more than one that waits; a slot not claimed in time (``Retry-After`` plus 10 % and
  30 s: the firmware adds up to 10 % jitter) is dropped.

The cost of a request is the number of punches its decoded batch carries (``protocol.server``);
other requests cost nothing and are never paced. Time is injected (a function returning
seconds as a float), so the simulator runs the pacer under virtual time. One lock makes
``wait`` safe across the PostgreSQL worker threads.

In a deployment of several receivers each process paces its own share (give each
``rate / receivers``).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable

CLAIM_GRACE_S = 30.0  # a slot is kept this long past its Retry-After (+10 %)
PURGE_EVERY = 1024  # refusals between sweeps of unclaimed slots


class Pacer:
    def __init__(
        self,
        rate: float,
        burst_s: float = 1.0,
        jitter_s: float = 5.0,
        max_wait_s: int = 900,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("an ingest budget is a positive number of punches per second")
        self.rate = float(rate)
        self.burst_s = burst_s
        self.jitter_s = jitter_s
        self.max_wait_s = max_wait_s
        self.clock = clock
        # When the admitted and promised work has drained (GCRA's theoretical arrival time).
        self._tat = clock()
        self._slots: dict[str, tuple[float, int, float]] = {}  # terminal -> (start, cost, expiry)
        self._lock = threading.Lock()
        self.admitted = 0
        self.refused = 0
        self.max_wait_given = 0

    def wait(self, terminal_id: str, cost: int, at: float | None = None) -> int:
        """0 to admit a request of ``cost`` punches now, else the seconds to wait.

        ``at`` is when the request arrived (the clock's time), if it has been waiting for a
        worker: judging it by its arrival, not by when a worker got to it, is what keeps a
        stampede from piling up in the receiver's queue (everything queued would otherwise be
        admitted at the rate the store drains it, seconds late)."""
        if cost <= 0:
            return 0
        with self._lock:
            now = self.clock() if at is None else at
            slot = self._slots.get(terminal_id)
            if slot is not None and now > slot[2]:
                del self._slots[terminal_id]  # not claimed in time: its room is gone
                slot = None
            if slot is not None:
                start, promised, _expiry = slot
                if now + 1e-9 >= start:  # its slot has come: the room was set aside for it
                    del self._slots[terminal_id]
                    if cost > promised:  # a bigger batch than the one refused: the rest
                        self._tat = max(self._tat, now) + (cost - promised) / self.rate
                    self.admitted += 1
                    return 0
                return self._refuse(math.ceil(start - now))  # early: same slot, no new one
            tat = max(self._tat, now)
            # A request bigger than the burst fits once the budget is idle, never sooner.
            need = min(cost / self.rate, self.burst_s)
            if tat + need - now <= self.burst_s + 1e-9:
                self._tat = tat + cost / self.rate
                self.admitted += 1
                return 0
            start = tat + need - self.burst_s  # the first moment it fits, after all promised
            wait = start - now + self.jitter_s * _fraction(terminal_id)
            seconds = max(1, math.ceil(wait))
            if seconds > self.max_wait_s:
                return self._refuse(self.max_wait_s)  # too far: ask again then, nothing kept
            self._tat = tat + cost / self.rate
            self._slots[terminal_id] = (now + seconds, cost, now + seconds * 1.1 + CLAIM_GRACE_S)
            if self.refused % PURGE_EVERY == 0:
                self._purge(now)
            return self._refuse(seconds)

    def _refuse(self, seconds: int) -> int:
        seconds = max(1, seconds)
        self.refused += 1
        if seconds > self.max_wait_given:
            self.max_wait_given = seconds
        return seconds

    def _purge(self, now: float) -> None:
        for name in [n for n, s in self._slots.items() if now > s[2]]:
            del self._slots[name]


def _fraction(name: str) -> float:
    """A stable number in [0, 1) per terminal (spreads equal slots over a few seconds)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32
