"""The client's gate for the receiver's commands: de-duplicated and rate-limited (MicroPython).

docs/PROTOCOL.md, PRT-SAFE-3. A signed heartbeat answer may carry up to 20 commands (PRT-CMD-1),
and a receiver that is broken, or an attacker who holds a terminal's secret, can send them in
every answer. Each command is work, often flash work (a configuration written, an event
logged), so the client runs only:

- a command whose ID is not among the last :data:`REMEMBERED` IDs it received: a repeated ID
  is dropped without a second result (the first one, run or refused, has its result: each ID
  gets exactly one, PRT-CMD-2), so it is never run twice;
- the first of identical commands (same ``op`` and arguments) in one answer; the others are
  answered ``rejected`` "same as <id>";
- within a token bucket: :data:`BURST` commands at once, then one per :data:`REFILL_MS`; the
  rest are answered ``rejected`` "rate limited" (a receiver sends them again under new IDs).

Refused commands are counted in :attr:`CommandGate.refused` so the caller logs a burst once.
"""

from binascii import hexlify

from micropython import const

from protocol import messages

BURST = const(10)
REFILL_MS = const(60000)
REMEMBERED = const(32)


class CommandGate:
    def __init__(self, burst=BURST, refill_ms=REFILL_MS):
        self.burst = burst
        self.refill_ms = refill_ms
        self._tokens = burst
        self._since = None  # when the bucket last gained a token
        self._ids = []  # the last REMEMBERED command IDs, oldest first
        self.refused = 0  # commands refused since the caller last took the count

    def _refill(self, now_ms):
        if self._since is None:
            self._since = now_ms
        while self._tokens < self.burst and now_ms - self._since >= self.refill_ms:
            self._tokens += 1
            self._since += self.refill_ms
        if self._tokens >= self.burst:
            self._since = now_ms

    def admit(self, now_ms, commands, report):
        """The commands of one answer that may run, in order; every other one is answered
        through ``report(id, status, detail)`` at once."""
        self._refill(now_ms)
        allowed = []
        kinds = {}  # type: dict[str, str]  # op and arguments -> ID of the first in this answer
        for cmd in commands:
            ident = cmd["id"]
            key = _key(cmd)
            first = kinds.get(key)
            if ident in self._ids:
                self.refused += 1  # its one result was given when it first came
                continue
            self._remember(ident)
            if first is not None:
                reason = "same as " + first
            elif self._tokens <= 0:
                reason = "rate limited: at most %d commands, then one a minute" % self.burst
            else:
                reason = None
            if reason is not None:
                self.refused += 1
                report(ident, "rejected", reason)
                continue
            kinds[key] = ident
            self._tokens -= 1
            allowed.append(cmd)
        return allowed

    def _remember(self, ident):
        self._ids.append(ident)
        if len(self._ids) > REMEMBERED:
            del self._ids[0]

    def take_refused(self):
        n = self.refused
        self.refused = 0
        return n


def _key(cmd):
    """The op and arguments of ``cmd`` (everything but its ID), comparable."""
    rest = {}
    for name in cmd:
        if name != "id":
            rest[name] = cmd[name]
    if "sha256" in rest:  # update_firmware: bytes are not JSON
        rest["sha256"] = hexlify(rest["sha256"]).decode()
    return messages.dumps(rest)
