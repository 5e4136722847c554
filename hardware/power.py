"""The battery of a portable (PiT-style) terminal: voltage through a divider on an ADC pin.

``Battery(adc, divider)``: ``adc.read_uv()`` (MicroPython's ESP32 ADC, calibrated microvolts)
gives the voltage at the pin; the cell's is ``divider`` times it. ``poll(now_ms)`` takes one
sample every ``interval_ms`` into a small preallocated ring and keeps the mean (a radio burst
sags the cell for a moment). ``level()`` gives ``(millivolts, percent, state)``; the percent
comes from a single-cell Li-ion discharge curve at light load (data, below), the state is
``"ok"``, ``"low"`` (under 15 %), ``"critical"`` (under 5 %: punches still work, but the
terminal may stop soon) or ``"absent"`` (the pin reads under 2.5 V: no cell, or the divider is
open).

``selftest()`` samples once: None, or ``"battery: absent (0.12 V at the cell)"`` or
``"battery: critical, 3.31 V (3 %)"``.
"""

from micropython import const

_SAMPLES = const(8)
_ABSENT_MV = const(2500)

# (millivolts, percent) of a 1S Li-ion cell at light load, falling.
LIION_CURVE = (
    (4200, 100),
    (4100, 90),
    (3970, 80),
    (3870, 65),
    (3800, 50),
    (3750, 40),
    (3700, 25),
    (3650, 15),
    (3550, 8),
    (3450, 5),
    (3300, 0),
)


def percent_of(mv, curve=LIION_CURVE):
    if mv >= curve[0][0]:
        return 100
    for i in range(1, len(curve)):
        hi_mv, hi_p = curve[i - 1]
        lo_mv, lo_p = curve[i]
        if mv >= lo_mv:
            return lo_p + (hi_p - lo_p) * (mv - lo_mv) // (hi_mv - lo_mv)
    return 0


class Battery:
    def __init__(self, adc, divider=2.0, interval_ms=5000, curve=LIION_CURVE):
        self.adc = adc
        self.divider = divider
        self.interval_ms = interval_ms
        self.curve = curve
        self._ring = [0] * _SAMPLES
        self._count = 0
        self._next_ms = 0

    def sample_mv(self):
        return int(self.adc.read_uv() * self.divider) // 1000

    def poll(self, now_ms):
        if now_ms < self._next_ms:
            return
        self._next_ms = now_ms + self.interval_ms
        self._ring[self._count % _SAMPLES] = self.sample_mv()
        self._count += 1

    def millivolts(self):
        n = min(self._count, _SAMPLES)
        if not n:
            return self.sample_mv()
        return sum(self._ring[:n]) // n

    def level(self):
        mv = self.millivolts()
        if mv < _ABSENT_MV:
            return mv, 0, "absent"
        p = percent_of(mv, self.curve)
        return mv, p, "critical" if p < 5 else ("low" if p < 15 else "ok")

    def selftest(self):
        try:
            self._ring[0] = self.sample_mv()
        except OSError as e:
            return "battery: ADC refused (%s)" % e
        self._count = 1
        mv, p, state = self.level()
        if state == "absent":
            return "battery: absent (%d.%02d V at the cell)" % (mv // 1000, mv % 1000 // 10)
        if state == "critical":
            return "battery: critical, %d.%02d V (%d %%)" % (mv // 1000, mv % 1000 // 10, p)
        return None
