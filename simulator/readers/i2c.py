"""A simulated I2C bus with a PN532 on it (MicroPython-compatible): ``writeto`` and
``readfrom_into`` as ``machine.I2C`` has them.

Every read starts with the PN532's status byte: 01 when an answer (an ACK, then the response)
is ready, 00 when not. A read of the status alone does not consume the answer; a longer read
returns status, the whole frame and zero padding, and consumes it (what does not fit is lost).
A wrong address raises ``OSError(19)`` (ENODEV: nobody acknowledged), as the board's bus does.
``now`` is virtual time: answers are ready after the chip's delays, plus ``delay_ms`` (a chip
slow to answer; the answers still come, late).
"""

from simulator.readers.pn532 import PN532Chip

ENODEV = 19


class SimI2C:
    def __init__(self, chip=None, address=0x24):
        self.chip = chip if chip is not None else PN532Chip()
        self.chip.interface = "i2c"
        self.address = address
        self.now = 0
        self.present = True  # False: the chip does not answer its address (unplugged)
        self.delay_ms = 0
        self._ready = []  # [ready_ms, frame]

    def _check(self, addr):
        if addr != self.address or not self.present:
            raise OSError(ENODEV)

    def writeto(self, addr, data):
        self._check(addr)
        for delay, out in self.chip.receive(bytes(data)):
            self._ready.append([self.now + delay + self.delay_ms, bytes(out)])
        return len(data)

    def in_flight(self):
        """Answers the chip holds that the host has not read, ready or not."""
        return len(self._ready)

    def readfrom_into(self, addr, buf):
        self._check(addr)
        ready = bool(self._ready) and self._ready[0][0] <= self.now
        buf[0] = 1 if ready else 0
        if len(buf) == 1 or not ready:
            for i in range(1, len(buf)):
                buf[i] = 0
            return
        frame = self._ready.pop(0)[1]
        for i in range(1, len(buf)):
            buf[i] = frame[i - 1] if i - 1 < len(frame) else 0
