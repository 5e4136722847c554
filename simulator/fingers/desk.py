"""A finger module as the board has it, on a simulated module (MicroPython-compatible): the real
driver (``hardware/fingerprint.py``) over the simulated serial line at 57600 baud, under virtual
time. Tests and the benchmark use it.

``SimulatedFinger()``: ``module`` is the simulated R503, ``line`` the serial line (its faults:
``dead``, ``flip``, ``drop``, ``truncate``), ``driver`` the real driver. ``run(ms)`` polls every
turn (20 ms, firmware/main.py's) and returns the events; ``touch(finger)`` places a finger until
the driver reported it, lifts it and polls until the driver saw the sensor empty.
"""

from hardware.fingerprint import FingerPrint
from simulator.fingers.r503 import R503
from simulator.readers.line import SerialLine

TURN_MS = 20


class _Desk:
    """Time moves in board turns: ``turn()`` (one poll, then 20 ms) is the subclass's."""

    now = 0

    def turn(self):
        raise NotImplementedError

    def run(self, ms):
        got = []
        end = self.now + ms
        while self.now < end:
            e = self.turn()
            if e is not None:
                got.append(e)
        return got

    def until_event(self, limit_ms=5000):
        """Poll until the driver returns something (or ``limit_ms``); that event or None."""
        end = self.now + limit_ms
        while self.now < end:
            e = self.turn()
            if e is not None:
                return e
        return None


class SimulatedFinger(_Desk):
    def __init__(self, capacity=200, selftest=True, **driver_options):
        self.module = R503(capacity)
        self.line = SerialLine(self.module, 57600)
        self.now = 0
        self.driver = FingerPrint(self.line, ticks_ms=self.ticks, wait_ms=self.wait,
                                  **driver_options)  # fmt: skip
        self.events = []
        self.selftest_result = self.driver.selftest() if selftest else None

    def ticks(self):
        return self.now

    def wait(self, ms):
        self.now += ms
        self.line.now = self.now

    def turn(self):
        self.line.now = self.now
        e = self.driver.poll(self.now)
        if e is not None:
            self.events.append((self.now, e))
        self.now += TURN_MS
        return e

    def touch(self, finger, quality="good", limit_ms=5000):
        """Place ``finger`` until the driver reports, lift it, poll until it saw no finger."""
        self.module.place(finger, quality)
        e = self.until_event(limit_ms)
        self.module.lift()
        self.run(700)
        return e


class SimulatedHybrid(SimulatedFinger):
    """A hybrid reader: the simulated R503 and XG vein module, each on its own line, the real
    ``hardware.hybrid.HybridFinger`` over both; ``place`` puts the finger on both sensors."""

    def __init__(self, rule="both", min_score=100, selftest=True):
        from hardware.hybrid import HybridFinger
        from hardware.xgvein import FingerVein
        from simulator.fingers.xgvein import XGVein

        SimulatedFinger.__init__(self, selftest=False)
        self.vein = XGVein()
        self.vein_line = SerialLine(self.vein, 57600)
        self.veins = FingerVein(self.vein_line, ticks_ms=self.ticks, wait_ms=self.wait)
        self.prints = self.driver
        self.driver = HybridFinger(self.prints, self.veins, rule, min_score)  # type: ignore[assignment]
        self.selftest_result = self.driver.selftest(self.ticks, self.wait) if selftest else None

    def wait(self, ms):
        SimulatedFinger.wait(self, ms)
        self.vein_line.now = self.now

    def turn(self):
        self.vein_line.now = self.now
        return SimulatedFinger.turn(self)

    def enrol(self, page, finger, vein_finger=None):
        self.module.enrol(page, finger)
        self.vein.enrol(page + 1, vein_finger or finger)

    def touch(self, finger, quality="good", limit_ms=10000, vein_quality="good"):
        self.vein.place(finger, vein_quality)
        e = SimulatedFinger.touch(self, finger, quality, limit_ms)
        self.vein.lift()
        return e


class SimulatedBT(_Desk):
    """A BT-style reader: a simulated PN532 (simulator/readers/desk.py) and a finger module
    (a SimulatedFinger or SimulatedHybrid) on one clock, the real
    ``hardware.btreader.CardAndFinger`` over both."""

    def __init__(self, method="card_or_finger", roster=None, hybrid=False, selftest=True):
        from hardware.btreader import CardAndFinger
        from simulator.readers.desk import SimulatedReader

        self.desk = SimulatedReader("pn532", selftest=False)
        self.fingers = (
            SimulatedHybrid(selftest=False) if hybrid else SimulatedFinger(selftest=False)
        )
        self.now = 0
        self.reader = CardAndFinger(self.desk.reader, self.fingers.driver, method, roster)
        self.events = []
        self.selftest_result = self.reader.selftest(self.ticks, self.wait) if selftest else None

    def ticks(self):
        return self.now

    def wait(self, ms):
        self.at(self.now + ms)

    def at(self, now):
        self.now = now
        self.desk.now = now
        self.desk.bus.now = now
        self.fingers.now = now
        self.fingers.line.now = now
        if hasattr(self.fingers, "vein_line"):
            self.fingers.vein_line.now = now

    def turn(self):
        self.at(self.now)
        e = self.reader.poll(self.now)
        if e is not None:
            self.events.append((self.now, e))
        self.at(self.now + TURN_MS)
        return e
