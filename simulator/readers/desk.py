"""A reader as the board has it, on a simulated chip (MicroPython-compatible): the real driver
(``hardware/``) over a simulated serial line or I2C bus, a chip model and a field of cards,
under virtual time. Tests, the door day of ``make sim`` and the benchmark use it.

``SimulatedReader(kind)``: ``kind`` is "pn532" (HSU), "pn532-i2c", "rcs620s" or "rcs380"
(USB packets straight to the chip). ``run(ms)``
polls every turn (20 ms, firmware/main.py's) and returns the events; ``tap(card)`` places a
card, polls until the driver reported it, takes it away and polls until the driver saw the
empty field, returning the events.
"""

from hardware.link import Link, UartTransport
from hardware.pn532 import PN532, I2cTransport
from hardware.rcs620s import RCS620S
from hardware.reader import Reader
from simulator.readers.field import FelicaCard, Field
from simulator.readers.i2c import SimI2C
from simulator.readers.line import SerialLine
from simulator.readers.pn532 import PN532Chip
from simulator.readers.rcs620s import RCS620SChip

TURN_MS = 20
KINDS = ("pn532", "pn532-i2c", "rcs620s", "rcs380")


class SimulatedReader:
    def __init__(self, kind="pn532", rate_kbps=212, system_code=0xFFFF, selftest=True):
        if kind not in KINDS:
            raise ValueError("reader kind %r: one of %s" % (kind, ", ".join(KINDS)))
        self.field = Field()
        self.kind = kind
        self.chip, self.bus, driver, self.link = _wire(kind, self.field, system_code, rate_kbps)
        self.line = self.bus
        self.reader = Reader(driver, self.link)
        self.now = 0
        self.events = []  # (time, event) for every event the reader returned
        self.selftest_result = self.selftest() if selftest else None

    def ticks(self):
        return self.now

    def wait(self, ms):
        self.now += ms
        self.bus.now = self.now

    def selftest(self):
        return self.reader.selftest(self.ticks, self.wait)

    def catch_up(self, now_ms):
        """Move the reader's clock to ``now_ms`` (never back)."""
        if now_ms > self.now:
            self.now = now_ms

    def turn(self):
        self.bus.now = self.now
        e = self.reader.poll(self.now)
        if e is not None:
            self.events.append((self.now, e))
        self.now += TURN_MS
        return e

    def run(self, ms):
        """Poll every turn for ``ms``; the events returned in that time."""
        got = []
        end = self.now + ms
        while self.now < end:
            e = self.turn()
            if e is not None:
                got.append(e)
        return got

    def cards(self, ms):
        return [e for e in self.run(ms) if not isinstance(e, tuple)]

    def tap(self, card=None, ms=400):
        """Place a card, poll ``ms``, take it away, poll until the field is seen empty."""
        card = self.field.place(card if card is not None else FelicaCard())
        got = self.run(ms)
        self.field.remove(card)
        got += self.run(300)
        return got

    def quick_tap(self, card, limit_ms=2000):
        """A tap as a person makes it: the card stays until the driver reported it (or
        ``limit_ms``), then leaves; polls until the driver saw the field empty."""
        self.field.place(card)
        got = []
        end = self.now + limit_ms
        while self.now < end:
            e = self.turn()
            if e is not None:
                got.append(e)
                if not isinstance(e, tuple):
                    break
        self.field.remove(card)
        end = self.now + limit_ms
        while self.now < end and self.reader.card_present():
            e = self.turn()
            if e is not None:
                got.append(e)
        return got

    def cut(self, off=True):
        """Disconnect the chip (a dead serial line, an I2C address nobody answers, an
        unplugged USB device), or connect it again."""
        if self.kind == "pn532-i2c":
            self.bus.present = not off
        elif self.kind == "rcs380":
            self.bus.unplugged = off
        else:
            self.bus.dead = off

    def wire_bytes(self):
        """Bytes both ways on the serial line so far (0 on I2C)."""
        return getattr(self.bus, "written", 0) + getattr(self.bus, "sent", 0)


def _wire(kind, field, system_code, rate_kbps):
    """(chip model, bus, driver, link) for ``kind``."""
    if kind == "rcs380":
        from hardware import pn53x, rcs380
        from simulator.readers.rcs380 import RCS380Chip, SimUsbTransport

        chip = RCS380Chip(field)
        bus = SimUsbTransport(chip)
        link = Link(bus, pn53x.Decoder(300, True), rcs380.TFI_CHIP)
        return chip, bus, rcs380.RCS380(system_code, rate_kbps), link
    if kind == "rcs620s":
        sony = RCS620SChip(field)
        line = SerialLine(sony)
        return sony, line, RCS620S(system_code, rate_kbps), Link(UartTransport(line))
    nxp = PN532Chip(field)
    if kind == "pn532-i2c":
        i2c = SimI2C(nxp)
        driver = PN532(system_code, rate_kbps, hsu=False)
        return nxp, i2c, driver, Link(I2cTransport(i2c))
    hsu = SerialLine(nxp)
    return nxp, hsu, PN532(system_code, rate_kbps), Link(UartTransport(hsu))
