"""Simulated pins, PWM and ADC channels, and a key matrix wired to pins (MicroPython-compatible).

``SimPWM`` records what it was told with the board's virtual time (``clock()``): ``tones()``
gives the beeps heard as (start ms, frequency, length ms), which is how a test checks a buzzer
pattern; ``duty_u16()`` is the level an LED channel shows. ``SimADC.read_uv()`` returns the
microvolts of ``volts`` at the pin (``None``: the channel raises OSError).

``SimKeyMatrix(rows, cols, keymap)`` makes the row pins (outputs) and column pins (inputs with
pull-ups) a KeyMatrix driver drives: a column reads 0 while a pressed key joins it to the row
driven low. ``press(name)`` and ``release(name)`` change the contacts; for ``bounce_ms`` after
each change a contact chatters (it reads the opposite state on every other read), as a real
dome or tact switch does for a few milliseconds.
"""


class SimPin:
    def __init__(self, number, on_read=None):
        self.number = number
        self.level = 1
        self.on_read = on_read

    def value(self, v=None):
        if v is None:
            return self.on_read() if self.on_read is not None else self.level
        self.level = 1 if v else 0
        return None


class SimPWM:
    def __init__(self, number, clock):
        self.number = number
        self.clock = clock
        self._freq = 0
        self._duty = 0
        self.changes = []  # (ms, freq, duty)
        self.broken = False

    def freq(self, hz=None):
        if hz is None:
            return self._freq
        if self.broken:
            raise OSError(5)
        self._freq = hz
        return None

    def duty_u16(self, v=None):
        if v is None:
            return self._duty
        if self.broken:
            raise OSError(5)
        if v != self._duty:
            self.changes.append((self.clock(), self._freq, v))
        self._duty = v
        return None

    def tones(self):
        """Tones heard: (start ms, Hz, length ms) for each stretch with a non-zero duty."""
        out = []
        start = None
        hz = 0
        for ms, f, duty in self.changes:
            if duty and start is None:
                start, hz = ms, f
            elif not duty and start is not None:
                out.append((start, hz, ms - start))
                start = None
        return out


class SimADC:
    def __init__(self, number, volts=3.9, divider=2.0):
        self.number = number
        self.volts = volts  # at the cell; None: the ADC raises
        self.divider = divider

    def read_uv(self):
        if self.volts is None:
            raise OSError(5)
        return int(self.volts / self.divider * 1_000_000)


class SimKeyMatrix:
    def __init__(self, rows, cols, keymap, clock, bounce_ms=5):
        self.clock = clock
        self.bounce_ms = bounce_ms
        self.rows = [SimPin(n) for n in rows]
        self.cols = [SimPin(n, self._reader(c)) for c, n in enumerate(cols)]
        self.where = {}
        for r, row in enumerate(keymap):
            for c, name in enumerate(row):
                if name is not None:
                    self.where[name] = (r, c)
        self.down = set()
        self._changed = {}  # (r, c) -> ms of the last change
        self._reads = 0

    def pins(self):
        return {p.number: p for p in self.rows + self.cols}

    def press(self, name):
        self._change(name, True)

    def release(self, name):
        self._change(name, False)

    def _change(self, name, down):
        if name not in self.where:
            raise ValueError("no key %r on this keypad" % name)
        rc = self.where[name]
        (self.down.add if down else self.down.discard)(rc)
        self._changed[rc] = self.clock()

    def _contact(self, rc):
        closed = rc in self.down
        changed = self._changed.get(rc)
        if changed is not None and self.clock() - changed < self.bounce_ms:
            self._reads += 1
            if self._reads % 2:
                return not closed
        return closed

    def _reader(self, c):
        def read():
            for r, pin in enumerate(self.rows):
                if pin.level == 0 and self._contact((r, c)):
                    return 0
            return 1

        return read
