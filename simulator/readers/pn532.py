"""A simulated NXP PN532 (firmware 1.6) on HSU (MicroPython-compatible).

On top of ``Pn53xChip``: the chip sleeps after power-up, after a reset and after PowerDown; a
byte on HSU wakes it, and the bytes of the next millisecond are lost (the waking byte and two
more): ``55 55`` and zeros, or nfcpy's ten zeros, cover that, a bare frame does not.
On I2C (``interface = "i2c"``) the address match wakes it and nothing is lost.
SAMConfiguration ``14 mode timeout irq`` answers ``D5 15``. SetSerialBaudrate ``10 n``
(0..8 = 9600..1288000 baud) answers at the old rate and switches ``baud`` after the host's ACK.
Up to two FeliCa targets per InListPassiveTarget.
"""

from simulator.readers.pn53x_chip import Pn53xChip

BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)
_LOST_ON_WAKE = 3


class PN532Chip(Pn53xChip):
    name = "PN532"
    firmware = b"\x32\x01\x06\x07"
    max_targets = 2
    diagnose_echoes_test_byte = True

    def power_cycle(self):
        Pn53xChip.power_cycle(self)
        self.asleep = True
        self.sam_mode = 0
        self.baud = 115200
        self._new_baud = 0
        self._lose = 0
        self._power_down = False

    interface = "hsu"  # or "i2c": the address match wakes the chip, no byte is lost

    def receive(self, data):
        out = []  # type: list
        for b in data:
            if self.asleep:
                self.asleep = False
                self._lose = _LOST_ON_WAKE if self.interface == "hsu" else 0
            if self._lose:
                self._lose -= 1
                continue
            self._byte(b, out)
        if self._power_down:  # asleep once the answer is out (the postamble does not wake it)
            self._power_down = False
            self.asleep = True
        return out

    def host_ack(self):
        if self._new_baud:
            self.baud = self._new_baud
            self._new_baud = 0

    def command(self, code, data):
        if code == 0x14 and data:
            self.sam_mode = data[0]
            return b""
        if code == 0x10 and data:
            if data[0] >= len(BAUD_RATES):
                return False
            self._new_baud = BAUD_RATES[data[0]]
            return b""
        if code == 0x16:
            self._power_down = True
            return b"\x00"
        return Pn53xChip.command(self, code, data)
