"""Stand-ins for the display and the finger module (MicroPython-compatible), honouring the
interfaces hardware/board.py gives those slots.

``ScriptedFinger`` takes the finger slot in simulator/parts/board.py until the finger module's
driver lands. ``TextDisplay`` is no longer on the simulated boards (they have the ST7789 driver
over a simulated chip): it stays for tests that need a board with no simulated display bus
(hardware/device.py's env on stand-in modules, the board on CPython's real sockets).

``TextDisplay``: ``selftest()`` -> None or text (``present`` False: "display: no answer"),
``show(lines, style)`` keeps the last screen (and counts them); it draws no pixels.
``ScriptedFinger``: ``selftest()``; ``poll(now_ms)`` returns the results queued with
``put(result, template)`` (a ``firmware.terminal.Finger``), or ``("fault", text)`` queued with
``fail(text)``.
The simulated boards' finger slot no longer uses it (simulator/parts/board.py puts the real R503
driver over the simulated R503 there); it stays for tests/terminal/test_board_device.py, a
``Board`` on stand-ins of a device's modules with no simulated part behind them.
"""


class TextDisplay:
    def __init__(self, width=240, height=135):
        self.width = width
        self.height = height
        self.present = True
        self.lines = ()
        self.style = ""
        self.screens = 0

    def selftest(self):
        return None if self.present else "display: no answer"

    def show(self, lines, style):
        if not self.present:
            raise OSError(19)
        self.lines = tuple(lines)
        self.style = style
        self.screens += 1


class ScriptedFinger:
    def __init__(self):
        self.present = True
        self._queue = []

    def selftest(self):
        return None if self.present else "finger: no answer"

    def put(self, result, template=0):
        from firmware.terminal import Finger

        self._queue.append(Finger(result, template))

    def fail(self, text):
        self._queue.append(("fault", text))

    def poll(self, now_ms):
        return self._queue.pop(0) if self._queue else None
