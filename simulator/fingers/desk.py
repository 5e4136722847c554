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


class SimulatedFinger:
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

    def touch(self, finger, quality="good", limit_ms=5000):
        """Place ``finger`` until the driver reports, lift it, poll until it saw no finger."""
        self.module.place(finger, quality)
        e = self.until_event(limit_ms)
        self.module.lift()
        self.run(700)
        return e
