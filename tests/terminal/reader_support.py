"""A reader on a simulated chip behind a simulated serial line or I2C bus, under virtual time
(terminal-code test helper: runs on MicroPython too)."""

from hardware.link import Link, UartTransport
from hardware.pn532 import PN532, I2cTransport
from hardware.rcs620s import RCS620S
from hardware.reader import Reader
from simulator.readers.field import FelicaCard, Field
from simulator.readers.i2c import SimI2C
from simulator.readers.line import SerialLine
from simulator.readers.pn532 import PN532Chip
from simulator.readers.rcs620s import RCS620SChip

TURN_MS = 20  # firmware/main.py's turn


class Bench:
    """``kind``: "pn532" (HSU), "pn532-i2c" or "rcs620s"."""

    def __init__(self, kind="pn532", rate_kbps=212, system_code=0xFFFF, selftest=True):
        self.field = Field()
        self.kind = kind
        if kind == "rcs620s":
            self.chip = RCS620SChip(self.field)
            self.bus = SerialLine(self.chip)
            driver = RCS620S(system_code, rate_kbps)
            transport = UartTransport(self.bus)
        elif kind == "pn532-i2c":
            self.chip = PN532Chip(self.field)
            self.bus = SimI2C(self.chip)
            driver = PN532(system_code, rate_kbps, hsu=False)
            transport = I2cTransport(self.bus)
        else:
            self.chip = PN532Chip(self.field)
            self.bus = SerialLine(self.chip)
            driver = PN532(system_code, rate_kbps)
            transport = UartTransport(self.bus)
        self.line = self.bus
        self.link = Link(transport)
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

    def run(self, ms):
        """Poll every turn for ``ms``; the events returned in that time."""
        got = []
        end = self.now + ms
        while self.now < end:
            self.bus.now = self.now
            e = self.reader.poll(self.now)
            if e is not None:
                got.append(e)
                self.events.append((self.now, e))
            self.now += TURN_MS
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


def only_card(events):
    cards = [e for e in events if not isinstance(e, tuple)]
    assert len(cards) == 1, events
    return cards[0]
