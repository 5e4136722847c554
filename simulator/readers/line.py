"""A serial line between a host and a simulated chip, with faults (MicroPython-compatible).

The host side is a UART: ``write(data)``, ``readinto(buf)`` (count, or None when nothing),
``any()``, ``read(n)``. Time is virtual: ``now`` (ms) is set by the caller; bytes the chip sends
arrive after its response delay plus their time on the wire at ``baud`` (10 bits a byte) plus
``delay_ms``.

Faults, each for the chip's next output unless said: ``drop(n)`` loses n bytes, ``flip(n)``
inverts the low bit of n bytes (checksums break), ``insert(data)`` puts garbage in front,
``truncate(n)`` cuts the next frame after n bytes, ``delay_ms`` holds everything back,
``dead`` loses everything both ways, ``host_baud`` different from the chip's ``baud``
garbles every byte both ways (the wrong baud rate). ``start`` picks which byte of the next
output the drop or flip hits first.
"""


class SerialLine:
    def __init__(self, chip, baud=115200):
        self.chip = chip
        self.now = 0
        self.host_baud = baud
        self.delay_ms = 0
        self.dead = False
        self.start = 0
        self.written = 0  # bytes the host wrote
        self.sent = 0  # bytes the chip sent
        self._pending = []  # [ready_ms, bytes]
        self._drop = 0
        self._flip = 0
        self._skip = 0
        self._insert = b""
        self._truncate = -1
        self._truncate_skip = 0

    # ----------------------------------------------------------------- fault controls

    def drop(self, n, skip=0):
        """Lose ``n`` bytes of the next output (after ``skip`` more), from byte ``start``."""
        self._drop = n
        self._skip = skip

    def flip(self, n, skip=0):
        """Invert the low bit of ``n`` bytes of the next output (after ``skip`` more)."""
        self._flip = n
        self._skip = skip

    def insert(self, data):
        self._insert = bytes(data)

    def truncate(self, n, skip=0):
        """Cut the next frame (after ``skip`` more) after ``n`` bytes."""
        self._truncate = n
        self._truncate_skip = skip

    def chip_baud(self):
        return getattr(self.chip, "baud", 115200)

    # ------------------------------------------------------------------------ host side

    def write(self, data):
        data = bytes(data)
        self.written += len(data)
        if self.dead:
            return len(data)
        if self.host_baud != self.chip_baud():
            data = _garble(data)
        at = self.now + self._wire_ms(len(data))
        for delay, out in self.chip.receive(data):
            self._queue(at + delay, out)
        return len(data)

    def _wire_ms(self, n):
        return (n * 10 * 1000 + self.host_baud - 1) // self.host_baud

    def _queue(self, ready, data):
        data = bytes(data)
        if self.dead:
            return
        if self._insert:
            data = self._insert + data
            self._insert = b""
        if (self._drop or self._flip) and self._skip:
            self._skip -= 1
        elif self._drop or self._flip:
            b = bytearray(data)
            i = min(self.start, len(b))
            while self._flip and i < len(b):
                b[i] ^= 0x01
                self._flip -= 1
                i += 1
            if self._drop:
                k = min(self._drop, len(b) - i)
                b = b[:i] + b[i + k :]
                self._drop -= k
            data = bytes(b)
        if self._truncate >= 0:
            if self._truncate_skip:
                self._truncate_skip -= 1
            else:
                data = data[: self._truncate]
                self._truncate = -1
        if self.host_baud != self.chip_baud():
            data = _garble(data)
        self.sent += len(data)
        ready += self._wire_ms(len(data)) + self.delay_ms
        if self._pending and self._pending[-1][0] > ready:
            ready = self._pending[-1][0]  # bytes on one line keep their order
        self._pending.append([ready, data])

    def any(self):
        n = 0
        for ready, data in self._pending:
            if ready > self.now:
                break
            n += len(data)
        return n

    def readinto(self, buf):
        n = 0
        size = len(buf)
        while self._pending and n < size:
            ready, data = self._pending[0]
            if ready > self.now:
                break
            k = min(size - n, len(data))
            buf[n : n + k] = data[:k]
            n += k
            if k == len(data):
                self._pending.pop(0)
            else:
                self._pending[0][1] = data[k:]
        return n or None

    def read(self, n=-1):
        buf = bytearray(self.any() if n < 0 else n)
        got = self.readinto(buf) or 0
        return bytes(buf[:got])

    def in_flight(self):
        """Bytes the chip sent that the host has not read, ready or not."""
        return sum(len(p[1]) for p in self._pending)


def _garble(data):
    """What a byte sent at one baud rate looks like read at another: not the byte."""
    return bytes(((b * 7 + 0x5B) ^ 0xA5) & 0xFF for b in data)
