"""Buses that replay recorded chip answers from preallocated buffers (MicroPython-compatible),
so a benchmark can count what the driver alone allocates and spends per poll.

A script is a list of byte strings: what the chip sent after each write of the host, in
order, recorded from the simulated chip (``record``). ``ReplayUart`` (a UART: ``write``,
``readinto``, ``any``) and ``ReplayPackets`` (the driver's transport interface, for the
RC-S380) hand them back, cycling through the script; nothing they do allocates.
"""


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
