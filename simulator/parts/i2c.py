"""A simulated I2C bus with register-file chips on it, and the two RTC chips (MicroPython-
compatible).

``SimI2CBus`` has ``machine.I2C``'s ``readfrom_mem_into(addr, reg, buf)``, ``writeto_mem(addr,
reg, data)`` and ``scan()``; an address nobody answers raises ``OSError(19)`` (ENODEV), as the
board's bus does; ``dead`` makes every address silent (SDA held low, no pull-ups).

``DS3231Chip`` / ``PCF8563Chip`` keep their registers in BCD and count virtual time (the bus's
``now``, milliseconds): reading the time gives the registers advanced by the seconds elapsed.
``battery_dead()`` models a power cut with a flat backup cell: the oscillator stopped, the
flag (OSF / VL) is set and the time is back at 2000-01-01 00:00. ``garbage`` makes the time
registers read 5E (not BCD: a chip that lost its mind, or a bus that garbles).
"""

from hardware.rtc import DAY_S, civil_from_days, days_from_civil

ENODEV = 19
Y2000 = 946684800


class SimI2CBus:
    def __init__(self):
        self.devices = {}
        self.now = 0
        self.dead = False
        self.transfers = 0

    def attach(self, chip):
        chip.bus = self
        self.devices[chip.address] = chip
        return chip

    def _chip(self, addr):
        chip = self.devices.get(addr)
        if self.dead or chip is None or not chip.present:
            raise OSError(ENODEV)
        self.transfers += 1
        return chip

    def readfrom_mem_into(self, addr, reg, buf):
        chip = self._chip(addr)
        for i in range(len(buf)):
            buf[i] = chip.read(reg + i)

    def writeto_mem(self, addr, reg, data):
        chip = self._chip(addr)
        for i in range(len(data)):
            chip.write(reg + i, data[i])

    def scan(self):
        return [] if self.dead else sorted(a for a, c in self.devices.items() if c.present)


def _bcd(v):
    return ((v // 10) << 4) | (v % 10)


def _unbcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


class _RtcChip:
    address = 0
    time_reg = 0

    def __init__(self, epoch=None):
        self.bus = None
        self.present = True
        self.garbage = False
        self.regs = bytearray(16)
        self.stopped = epoch is None  # a chip fresh from the factory has its flag set
        self._set_at_ms = 0
        self._base = Y2000 if epoch is None else epoch
        self._set_flag(self.stopped)

    def _set_flag(self, on):  # each chip's own
        raise NotImplementedError

    def _fields(self, y, m, d, wd, hh, mm, ss):
        raise NotImplementedError

    def _stored(self):
        raise NotImplementedError

    def _now_ms(self):
        return self.bus.now if self.bus is not None else 0

    def epoch(self):
        """The chip's time now (what a perfect driver would read)."""
        if self.stopped:
            return self._base
        return self._base + (self._now_ms() - self._set_at_ms) // 1000

    def battery_dead(self):
        """Main power and the backup cell both gone: time lost, flag set."""
        self.stopped = True
        self._base = Y2000
        self._set_flag(True)

    def _load(self):
        """The time registers, from the time now."""
        e = self.epoch()
        days = e // DAY_S
        rest = e - days * DAY_S
        y, m, d = civil_from_days(days)
        self._fields(y, m, d, (days + 3) % 7 + 1, rest // 3600, rest // 60 % 60, rest % 60)

    def read(self, reg):
        if self.time_reg <= reg < self.time_reg + 7:
            if self.garbage:
                return 0x5E  # not BCD (a digit E), the flag bit clear
            self._load()
        return self.regs[reg & 0x0F]

    def write(self, reg, value):
        self.regs[reg & 0x0F] = value
        if reg == self.time_reg + 6:  # the year, last of a whole-time write: the clock restarts
            self._base = self._stored()
            self._set_at_ms = self._now_ms()
            self.stopped = False


class DS3231Chip(_RtcChip):
    address = 0x68
    time_reg = 0x00

    def _set_flag(self, on):
        if on:
            self.regs[0x0F] |= 0x80
        else:
            self.regs[0x0F] &= 0x7F

    def write(self, reg, value):
        if reg == 0x0F:  # OSF can only be cleared by the host
            self.regs[0x0F] = (self.regs[0x0F] & value & 0x80) | (value & 0x7F)
            return
        _RtcChip.write(self, reg, value)

    def _fields(self, y, m, d, wd, hh, mm, ss):
        r = self.regs
        r[0], r[1], r[2], r[3] = _bcd(ss), _bcd(mm), _bcd(hh), wd
        r[4], r[5], r[6] = _bcd(d), _bcd(m), _bcd(y - 2000)

    def _stored(self):
        r = self.regs
        days = days_from_civil(2000 + _unbcd(r[6]), _unbcd(r[5] & 0x1F), _unbcd(r[4]))
        return days * DAY_S + _unbcd(r[2] & 0x3F) * 3600 + _unbcd(r[1]) * 60 + _unbcd(r[0])


class PCF8563Chip(_RtcChip):
    address = 0x51
    time_reg = 0x02

    def _set_flag(self, on):
        self._vl = on

    def read(self, reg):
        value = _RtcChip.read(self, reg)
        if reg == 0x02 and not self.garbage and self._vl:
            value |= 0x80
        return value

    def write(self, reg, value):
        if reg == 0x02:
            self._vl = bool(value & 0x80)  # writing the seconds writes VL
        _RtcChip.write(self, reg, value & 0x7F if reg == 0x02 else value)

    def _fields(self, y, m, d, wd, hh, mm, ss):
        r = self.regs
        r[2], r[3], r[4], r[5] = _bcd(ss), _bcd(mm), _bcd(hh), _bcd(d)
        r[6], r[7], r[8] = wd % 7, _bcd(m), _bcd(y - 2000)

    def _stored(self):
        r = self.regs
        days = days_from_civil(2000 + _unbcd(r[8]), _unbcd(r[7] & 0x1F), _unbcd(r[5]))
        return days * DAY_S + _unbcd(r[4] & 0x3F) * 3600 + _unbcd(r[3]) * 60 + _unbcd(r[2] & 0x7F)
