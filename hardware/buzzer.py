"""The buzzer: beep patterns played on a PWM channel, paced by time passed in (MicroPython).

The terminal's ``Beep`` patterns (firmware/terminal.py): ``ok`` one short high beep, ``offline``
two short beeps (stored, not sent yet), ``error`` one long low beep. A pattern is data: steps of
(frequency Hz, on ms, off ms). ``play(pattern, now_ms)`` starts it (a new beep cuts the one
playing); ``poll(now_ms)`` moves it on (the board calls it every turn, from ``idle``); the PWM
is silent (duty 0) between tones and after the last. Nothing sleeps.

An unknown pattern raises ``ValueError`` naming the known ones (the board turns it into a fault
text and plays ``error``): a typo in a pattern name is a defect, said, never a silent beep.

``pwm`` is injected: ``machine.PWM(Pin(n))`` or the simulator's, with ``freq(hz)`` and
``duty_u16(v)``. A passive piezo needs a square wave: duty 50 % (32768).
"""

from micropython import const

_DUTY_ON = const(32768)

PATTERNS = {
    "ok": ((2700, 80, 0),),
    "offline": ((2700, 60, 60), (2700, 60, 0)),
    "error": ((1000, 400, 0),),
}


class Buzzer:
    def __init__(self, pwm, patterns=PATTERNS):
        self.pwm = pwm
        self.patterns = patterns
        self.pattern = ""  # the pattern playing, "" when silent
        self.played = 0
        self._steps = ()  # type: tuple
        self._index = 0
        self._on = False
        self._until = 0
        pwm.duty_u16(0)

    def play(self, pattern, now_ms):
        steps = self.patterns.get(pattern)
        if steps is None:
            raise ValueError(
                "unknown beep pattern %r (known: %s)" % (pattern, ", ".join(sorted(self.patterns)))
            )
        self.pattern = pattern
        self.played += 1
        self._steps = steps
        self._index = 0
        self._tone(now_ms)

    def _tone(self, now_ms):
        freq, on_ms, _off = self._steps[self._index]
        self.pwm.freq(freq)
        self.pwm.duty_u16(_DUTY_ON)
        self._on = True
        self._until = now_ms + on_ms

    def poll(self, now_ms):
        while self.pattern and now_ms >= self._until:
            if self._on:
                self.pwm.duty_u16(0)
                self._on = False
                self._until += self._steps[self._index][2]
                continue
            self._index += 1
            if self._index >= len(self._steps):
                self.pattern = ""
                return
            until = self._until
            self._tone(until)

    def busy(self):
        return bool(self.pattern)

    def selftest(self):
        """A piezo cannot be heard by the board: the check is that its PWM channel takes a
        frequency and a duty (a pin that is not a PWM output raises here)."""
        try:
            self.pwm.freq(PATTERNS["ok"][0][0])
            self.pwm.duty_u16(0)
        except (OSError, ValueError) as e:
            return "buzzer: PWM refused (%s)" % e
        return None
