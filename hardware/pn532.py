"""NXP PN532 over HSU (UART, 115200 8N1) or I2C (address 0x24), for FeliCa polling.

HSU: the chip sleeps after power-up and after a reset; ``55 55`` and zeros wake it, and
SAMConfiguration (normal mode) must come first. The init program: wake-up, SAMConfiguration
``14 01 00 00``, GetFirmwareVersion (IC 0x32), RFConfiguration MaxRetries ``32 05 00 00 00``
(one passive activation try: the default FF would wait for a card for ever). A poll is
InListPassiveTarget for up to two targets with a SENSF_REQ for the system code.

I2C: every read starts with a status byte (bit 0: ready); the host reads the status byte until
it is 01, then the frame. ``I2cTransport`` does that with preallocated buffers on a
``machine.I2C``-like bus (``writeto``, ``readfrom_into``).
"""

from micropython import const

from hardware import chip, felica

IC_PN532 = const(0x32)
I2C_ADDRESS = const(0x24)
WAKE_UP = b"\x55\x55" + bytes(15)  # HSU wake-up (Adafruit's; nfcpy sends 10 zeros)
_FLUSH_READS = const(4)  # an ACK and a response, twice: what a chip may hold at most


class PN532(chip.Pn53xDriver):
    name = "PN532"
    ic = IC_PN532

    def __init__(self, system_code=felica.SYSTEM_CODE_ANY, rate_kbps=212, hsu=True, slots=0):
        wake = (chip.raw(WAKE_UP, 2),) if hsu else ()
        steps = (
            chip.step(chip.CMD_SAM_CONFIGURATION, b"\x01\x00\x00"),
            chip.step(chip.CMD_GET_FIRMWARE_VERSION, kind=chip.VERSION),
            chip.step(chip.CMD_RF_CONFIGURATION, b"\x05\x00\x00\x00"),
        )
        self.init = wake + steps
        data = felica.poll_data(2, rate_kbps, system_code, 0, slots)
        self.poll = (chip.step(felica.CMD_IN_LIST_PASSIVE_TARGET, data, chip.POLL, 100),)
        self.after_poll = ()
        self.rate_kbps = rate_kbps


class I2cTransport:
    """The PN532's I2C framing: a status byte before every read."""

    def __init__(self, i2c, address=I2C_ADDRESS, size=64):
        self.i2c = i2c
        self.address = address
        self._status = bytearray(1)
        self._ack = bytearray(7)  # status + ACK
        self._frame = bytearray(size)  # status + the longest answer the driver asks for

    def send(self, frame):
        self.i2c.writeto(self.address, frame)

    def readinto(self, buf, expect_ack):
        self.i2c.readfrom_into(self.address, self._status)
        if not self._status[0] & 1:
            return 0
        rx = self._ack if expect_ack else self._frame
        self.i2c.readfrom_into(self.address, rx)
        if not rx[0] & 1:
            return 0
        n = len(rx) - 1
        for i in range(n):
            buf[i] = rx[i + 1]
        return n

    def flush(self, buf):
        """Read out and drop what the chip holds: it keeps an answer (its ACK, then the
        response) until the host reads it, also when the host gave up on that command."""
        for _ in range(_FLUSH_READS):
            self.i2c.readfrom_into(self.address, self._status)
            if not self._status[0] & 1:
                return
            self.i2c.readfrom_into(self.address, self._frame)
