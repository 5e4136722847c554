"""The RGB status LED on three PWM channels (MicroPython).

The terminal's ``Led`` patterns (firmware/terminal.py): ``green`` (ready, online), ``amber``
(offline or stored offline), ``red`` (error, reader fault, journal full), ``off``. Colours are
data (0-255 per channel, mixed for the LED's own brightness); ``common_anode`` inverts the
duty (the LED's anodes on 3.3 V, the pins sink). An unknown pattern raises ``ValueError``
naming the known ones. ``pwms`` are injected: ``(machine.PWM(Pin(r)), …)`` or the simulator's,
with ``duty_u16(v)``.
"""

COLOURS = {
    "green": (0, 255, 0),
    "amber": (255, 110, 0),
    "red": (255, 0, 0),
    "off": (0, 0, 0),
}


class RgbLed:
    def __init__(self, red, green, blue, common_anode=False, colours=COLOURS):
        self.channels = (red, green, blue)
        self.common_anode = common_anode
        self.colours = colours
        self.pattern = ""
        self.set("off")

    def set(self, pattern):
        rgb = self.colours.get(pattern)
        if rgb is None:
            raise ValueError(
                "unknown LED pattern %r (known: %s)" % (pattern, ", ".join(sorted(self.colours)))
            )
        for pwm, level in zip(self.channels, rgb):
            duty = level * 257  # 0..65535
            pwm.duty_u16(65535 - duty if self.common_anode else duty)
        self.pattern = pattern

    def selftest(self):
        try:
            self.set("off")
        except (OSError, ValueError) as e:
            return "led: PWM refused (%s)" % e
        return None
