"""A global ingest budget for the receiver (PRT-SRV-4, MNT-04/MNG-05: the resend stampede).

When maintenance ends, every terminal of a fleet comes back at once with its backlog. Refusing
them all with the same ``Retry-After`` only moves the stampede; accepting them all makes every
request slow. The pacer admits punches up to ``rate`` per second (with ``burst_s`` seconds of
slack) and gives each refused request a *slot*: the time at which the budget, after the work
already promised to earlier refused requests, has room for it, plus a stable per-terminal jitter.
So the backlog drains at the budget's rate, in order of arrival, and the ``Retry-After`` values
are spread instead of equal.

The cost of a request is the number of punches it carries (counted before decoding, see
``protocol.server``); other requests cost nothing and are never paced. Time is injected (a
function returning seconds as a float), so the simulator runs the pacer under virtual time.

In a deployment of several receivers each process paces its own share (give each
``rate / receivers``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable


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
        self._tat = clock()  # when the admitted work has drained (GCRA's theoretical time)
        self._promised = self._tat  # when the work promised to refused requests has drained
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
        now = self.clock() if at is None else at
        tat = max(self._tat, now)
        # A request bigger than the burst fits once the budget is idle, never sooner.
        need = min(cost / self.rate, self.burst_s)
        if tat + need - now <= self.burst_s + 1e-9:
            self._tat = tat + cost / self.rate
            self.admitted += 1
            return 0
        # Refused: the first moment it would fit the burst, after every slot promised before.
        start = max(self._promised, tat + need - self.burst_s, now)
        self._promised = start + cost / self.rate
        wait = start - now + self.jitter_s * _fraction(terminal_id)
        seconds = min(self.max_wait_s, max(1, math.ceil(wait)))
        self.refused += 1
        if seconds > self.max_wait_given:
            self.max_wait_given = seconds
        return seconds


def _fraction(name: str) -> float:
    """A stable number in [0, 1) per terminal (spreads equal slots over a few seconds)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32
