"""Buses that replay recorded chip answers from preallocated buffers (MicroPython-compatible),
so a benchmark can count what the driver alone allocates and spends per poll.

A script is a list of byte strings: what the chip sent after each write of the host, in
order, recorded from the simulated chip (``record``). ``ReplayUart`` (a UART: ``write``,
``readinto``, ``any``), ``ReplayI2C`` (a ``machine.I2C`` with the PN532's status byte:
``writeto``, ``readfrom_into``) and ``ReplayPackets`` (the driver's transport interface, for
the RC-S380) hand them back, cycling through the script; nothing they do allocates.
"""

_ACK = b"\x00\x00\xff\x00\xff\x00"


class ReplayUart:
    def __init__(self, script):
        self.script = [bytearray(s) for s in script]
        self.writes = 0
        self._i = -1
        self._pos = 0
        self._cur = self.script[0]
        self._empty = True

    def write(self, data):
        self._i += 1
        if self._i >= len(self.script):
            self._i = 0
        self._cur = self.script[self._i]
        self._pos = 0
        self._empty = False
        self.writes += 1
        return len(data)

    def any(self):
        return 0 if self._empty else len(self._cur) - self._pos

    def readinto(self, buf):
        if self._empty:
            return None
        cur = self._cur
        pos = self._pos
        n = len(cur) - pos
        if n > len(buf):
            n = len(buf)
        for k in range(n):
            buf[k] = cur[pos + k]
        self._pos = pos + n
        return n if n else None


class ReplayI2C:
    """Each write's recorded answer as the PN532 gives it on I2C: its ACK, then its response,
    one per read, each read starting with the status byte (01 ready, 00 nothing)."""

    def __init__(self, script):
        self.script = [bytearray(s) for s in script]
        self.writes = 0
        self._i = -1
        self._parts = []  # type: list  # (start, end) of the ACK and the response, per answer
        for s in self.script:
            ack = len(s) >= 6 and s[0:6] == _ACK
            if ack and len(s) > 6:
                self._parts.append(((0, 6), (6, len(s))))
            else:
                self._parts.append(((0, len(s)),) if s else ())
        self._cur = self.script[0]
        self._part = 0
        self._left = 0

    def writeto(self, addr, data):
        self._i += 1
        if self._i >= len(self.script):
            self._i = 0
        self._cur = self.script[self._i]
        self._part = 0
        self._left = len(self._parts[self._i])
        self.writes += 1
        return len(data)

    def readfrom_into(self, addr, buf):
        ready = self._left > 0
        buf[0] = 1 if ready else 0
        if len(buf) == 1 or not ready:
            return
        start, end = self._parts[self._i][self._part]
        self._part += 1
        self._left -= 1
        cur = self._cur
        for k in range(1, len(buf)):
            i = start + k - 1
            buf[k] = cur[i] if i < end else 0


class ReplayPackets:
    def __init__(self, script):
        self.uart = ReplayUart(script)

    def send(self, frame):
        self.uart.write(frame)

    def readinto(self, buf, expect_ack):
        return self.uart.readinto(buf) or 0

    def flush(self, buf):
        while self.uart.any():
            self.uart.readinto(buf)


def record(sim, start_ms, cycles):
    """Run ``sim`` (a ``SimulatedReader``) from ``start_ms`` for ``cycles`` poll cycles and
    return (script, end_ms): the chip's bytes after each host write."""
    script = []
    bus = sim.bus
    chip = sim.chip
    old = chip.receive

    def receive(data):
        out = old(data)
        script.append(b"".join(bytes(o[1]) for o in out))
        return out

    chip.receive = receive
    sim.now = start_ms
    polls = sim.reader.polls
    while sim.reader.polls < polls + cycles or sim.reader.busy():
        sim.turn()
    chip.receive = old
    return [s for s in script], sim.now, bus
