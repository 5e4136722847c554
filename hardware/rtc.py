"""The battery-backed real-time clock over I2C: DS3231 (BT style) or PCF8563 (PiT style).

Both keep UTC here (the terminal adds its own offset) as BCD registers; the driver turns them
into UTC seconds since 1970 with integer calendar arithmetic (no ``time.mktime``, whose epoch
differs between MicroPython ports). Bus injected: any object with ``readfrom_mem_into(addr,
reg, buf)`` and ``writeto_mem(addr, reg, data)`` (``machine.I2C``, ``machine.SoftI2C``, the
simulator's bus). Buffers are allocated once.

``epoch()`` returns UTC seconds, or None when the clock cannot be trusted; ``problem`` then
says why, one of:

- ``"no answer at 0x68"`` (the bus raised OSError: the chip is missing or its bus is dead);
- ``"oscillator stopped: time lost (backup battery dead?)"``: the DS3231's OSF flag (status
  register 0F bit 7) or the PCF8563's VL flag (seconds register bit 7), set when the
  oscillator stopped, as it does when the backup battery is flat during a power cut;
- ``"nonsense time …"``: registers that are not a valid date (garbage on the bus).

``set_epoch(epoch)`` writes the time and clears the flag (True), or returns False with
``problem`` set; it never raises. ``selftest()`` reads once: None, or the problem as text with
the part's name.
"""

from micropython import const

_DS3231_ADDRESS = const(0x68)
_DS3231_TIME = const(0x00)
_DS3231_STATUS = const(0x0F)
_DS3231_OSF = const(0x80)

_PCF8563_ADDRESS = const(0x51)
_PCF8563_TIME = const(0x02)
_PCF8563_VL = const(0x80)

_YEAR_MIN = const(2000)
_YEAR_MAX = const(2099)
DAY_S = const(86400)


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if month <= 2:
        year -= 1
    era = year // 400
    yoe = year - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    """(year, month, day) of a day count since 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def _bcd(b, mask):
    """The value of a BCD byte under ``mask``, or -1 when a digit is above 9."""
    b &= mask
    lo = b & 0x0F
    hi = b >> 4
    if lo > 9 or hi > 9:
        return -1
    return hi * 10 + lo


def _to_bcd(v):
    return ((v // 10) << 4) | (v % 10)


def _epoch(year, month, day, hour, minute, second):
    """UTC seconds, or None when the fields are not a valid time."""
    if not (_YEAR_MIN <= year <= _YEAR_MAX and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59):
        return None
    if civil_from_days(days_from_civil(year, month, day))[2] != day:  # 31 April, 30 February
        return None
    return days_from_civil(year, month, day) * DAY_S + hour * 3600 + minute * 60 + second


class _Rtc:
    name = "RTC"
    address = 0
    _DAY = 4  # index of the day of the month in the time registers

    def __init__(self, i2c, address=None):
        self.i2c = i2c
        if address is not None:
            self.address = address
        self._time = bytearray(7)
        self._one = bytearray(1)
        self.problem = ""

    def epoch(self):  # each chip's own
        raise NotImplementedError

    def _write(self, year, month, day, weekday, hour, minute, second):
        raise NotImplementedError

    def _no_answer(self, e):
        self.problem = "no answer at 0x%02X (%s)" % (self.address, e)

    def selftest(self):
        if self.epoch() is None:
            return "%s: %s" % (self.name, self.problem)
        return None

    def set_epoch(self, epoch):
        if not (0 < epoch and _YEAR_MIN <= civil_from_days(epoch // DAY_S)[0] <= _YEAR_MAX):
            self.problem = "cannot hold %r (years %d-%d)" % (epoch, _YEAR_MIN, _YEAR_MAX)
            return False
        days = epoch // DAY_S
        rest = epoch - days * DAY_S
        year, month, day = civil_from_days(days)
        weekday = (days + 3) % 7 + 1  # 1 = Monday (1970-01-01 was a Thursday)
        try:
            self._write(year, month, day, weekday, rest // 3600, rest // 60 % 60, rest % 60)
        except OSError as e:
            self._no_answer(e)
            return False
        self.problem = ""
        return True

    def _decode(self):
        """UTC seconds from the time registers read (sec, min, hour at 0-2; day at ``_DAY``,
        month at 5, year at 6), or None with ``problem`` said."""
        t = self._time
        value = _epoch(
            2000 + _bcd(t[6], 0xFF),
            _bcd(t[5], 0x1F),
            _bcd(t[self._DAY], 0x3F),
            _bcd(t[2], 0x3F),
            _bcd(t[1], 0x7F),
            _bcd(t[0], 0x7F),
        )
        if value is None:
            self._nonsense()
            return None
        self.problem = ""
        return value

    def _nonsense(self):
        t = self._time
        self.problem = "nonsense time %02X%02X%02X %02X:%02X:%02X" % (
            t[6],
            t[5],
            t[self._DAY],
            t[2],
            t[1],
            t[0],
        )


class DS3231(_Rtc):
    """Maxim DS3231: time at 00-06 (sec, min, hour, weekday, date, month/century, year), status
    at 0F whose bit 7 (OSF) is set at first power-up and whenever the oscillator stopped."""

    name = "DS3231"
    address = _DS3231_ADDRESS

    def epoch(self):
        t = self._time
        try:
            self.i2c.readfrom_mem_into(self.address, _DS3231_STATUS, self._one)
            self.i2c.readfrom_mem_into(self.address, _DS3231_TIME, t)
        except OSError as e:
            self._no_answer(e)
            return None
        if self._one[0] & _DS3231_OSF:
            self.problem = "oscillator stopped: time lost (backup battery dead?)"
            return None
        if t[2] & 0x40:  # 12-hour mode: this driver always writes 24-hour
            self._nonsense()
            return None
        return self._decode()

    def _write(self, year, month, day, weekday, hour, minute, second):
        t = self._time
        t[0] = _to_bcd(second)
        t[1] = _to_bcd(minute)
        t[2] = _to_bcd(hour)  # bit 6 clear: 24-hour mode
        t[3] = weekday
        t[4] = _to_bcd(day)
        t[5] = _to_bcd(month)
        t[6] = _to_bcd(year - 2000)
        self.i2c.writeto_mem(self.address, _DS3231_TIME, t)
        self.i2c.readfrom_mem_into(self.address, _DS3231_STATUS, self._one)
        self._one[0] &= ~_DS3231_OSF & 0xFF
        self.i2c.writeto_mem(self.address, _DS3231_STATUS, self._one)


class PCF8563(_Rtc):
    """NXP PCF8563: time at 02-08 (VL + sec, min, hour, day, weekday, century + month, year);
    VL (bit 7 of 02) says the clock's integrity is no longer guaranteed."""

    name = "PCF8563"
    address = _PCF8563_ADDRESS
    _DAY = 3

    def epoch(self):
        t = self._time
        try:
            self.i2c.readfrom_mem_into(self.address, _PCF8563_TIME, t)
        except OSError as e:
            self._no_answer(e)
            return None
        if t[0] & _PCF8563_VL:
            self.problem = "oscillator stopped: time lost (backup battery dead?)"
            return None
        return self._decode()

    def _write(self, year, month, day, weekday, hour, minute, second):
        t = self._time
        t[0] = _to_bcd(second)  # VL cleared by writing the seconds
        t[1] = _to_bcd(minute)
        t[2] = _to_bcd(hour)
        t[3] = _to_bcd(day)
        t[4] = weekday % 7  # 0 = Sunday
        t[5] = _to_bcd(month)
        t[6] = _to_bcd(year - 2000)
        self.i2c.writeto_mem(self.address, _PCF8563_TIME, t)
