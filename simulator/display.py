"""A simulated ST7789 on a simulated SPI bus (MicroPython-compatible); PNG on the desktop.

The chip keeps its frame memory as written over the bus: 240 columns × 320 rows of RGB565,
high byte first, addressed through MADCTL (MV exchanges rows and columns, MX and MY mirror
them), so a driver that forgets MADCTL writes where a real panel would. Commands: SWRESET,
SLPIN/SLPOUT, NORON, INVON/INVOFF, DISPON/DISPOFF, CASET, RASET, RAMWR (the window wraps as
the chip's address counter does), MADCTL, COLMOD (only 16-bit, 0x55, is modelled) and RDDID
(a dummy bit, then ID1–ID3, read no faster than ``MAX_READ_HZ``). What the model does not
know is recorded in ``errors``. Timing (the 120 ms after reset) is not modelled.

``SimSpi(chip)`` has machine.SPI's ``init(baudrate=…)``, ``write`` and ``readinto``;
``SimPin(chip, "dc")`` a pin's ``value``. ``chip.present = False`` is a display that is not
there: writes go nowhere and MISO reads ``miso_idle`` (0xFF: pulled up).
``spi.fail = OSError(5)`` makes every write raise (a board whose SPI driver fails);
``spi.fail_after = n`` lets n more writes through first (a bus that breaks mid-screen).
``chip.log`` (a list) records ``(command, bytes)``.

``chip.pixel(x, y)`` is the colour seen at (x, y) of the landscape picture; ``write_png``
(CPython, Pillow) draws what a person sees: black while the display is off or asleep.
"""

PANEL_COLUMNS = 240
PANEL_ROWS = 320
ST7789V_ID = 0x858552
# The datasheet's read cycle (150 ns, from memory: uncertain): faster reads return garbage.
MAX_READ_HZ = 6_666_666


class ST7789Chip:
    def __init__(self, display_id=ST7789V_ID):
        self.display_id = display_id
        self.ram = bytearray(PANEL_COLUMNS * PANEL_ROWS * 2)
        self.present = True
        self.miso_idle = 0xFF
        self.log = None  # a list to record (command, data)
        self.errors = []
        self.cs = 1
        self.dc = 1
        self._reset_state()

    def _reset_state(self):
        self.asleep = True
        self.display_on = False
        self.inverted = False
        self.madctl = 0
        self.colmod = 0x66  # 18-bit after reset
        self._cmd = None
        self._data = bytearray()
        self.x0, self.x1, self.y0, self.y1 = 0, PANEL_COLUMNS - 1, 0, PANEL_ROWS - 1
        self._x = self._y = 0
        self._half = -1
        self._out = b""

    # ---------------------------------------------------------------- geometry

    def size(self):
        """(width, height) of the address space as MADCTL sets it."""
        if self.madctl & 0x20:
            return PANEL_ROWS, PANEL_COLUMNS
        return PANEL_COLUMNS, PANEL_ROWS

    def _address(self, x, y):
        if self.madctl & 0x20:  # MV
            col, row = y, x
        else:
            col, row = x, y
        if self.madctl & 0x40:  # MX
            col = PANEL_COLUMNS - 1 - col
        if self.madctl & 0x80:  # MY
            row = PANEL_ROWS - 1 - row
        return (row * PANEL_COLUMNS + col) * 2

    def pixel(self, x, y):
        """RGB565 at (x, y) of the picture as the driver laid it out (MADCTL applied)."""
        at = self._address(x, y)
        return self.ram[at] << 8 | self.ram[at + 1]

    # ---------------------------------------------------------------- the bus

    def set_cs(self, v):
        if v and not self.cs:
            self._finish()
        self.cs = 1 if v else 0

    def set_dc(self, v):
        self.dc = 1 if v else 0

    def clock_in(self, data):
        if self.cs or not self.present:
            return
        if self.dc == 0:
            for b in data:
                self._finish()
                self._begin(b)
        elif self._cmd == 0x2C:
            self._pixels(data)
        elif self._cmd is not None:
            self._data.extend(data)

    def clock_out(self, buf, hz=0):
        fast = hz > MAX_READ_HZ
        out = self._out if (self.present and not self.cs and not fast) else b""
        for i in range(len(buf)):
            buf[i] = out[i] if i < len(out) else self.miso_idle
        self._out = out[len(buf) :]

    def _begin(self, cmd):
        self._cmd = cmd
        self._data = bytearray()
        if cmd == 0x2C:
            self._x, self._y = self.x0, self.y0
            self._half = -1
            if self.log is not None:
                self.log.append([cmd, bytearray()])
        elif cmd == 0x04:  # RDDID: a dummy bit, then 24 bits of ID
            v = self.display_id << 7
            self._out = bytes(((v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF))
        elif cmd == 0x01:
            self._reset_state()
            self._cmd = cmd
        elif cmd == 0x10:
            self.asleep = True
        elif cmd == 0x11:
            self.asleep = False
        elif cmd in (0x20, 0x21):
            self.inverted = cmd == 0x21
        elif cmd in (0x28, 0x29):
            self.display_on = cmd == 0x29
        elif cmd not in (0x13, 0x2A, 0x2B, 0x36, 0x3A):
            self.errors.append("command %02x not modelled" % cmd)

    def _finish(self):
        cmd, data = self._cmd, self._data
        if cmd is None:
            return
        if self.log is not None and cmd != 0x2C:
            self.log.append([cmd, bytes(data)])
        width, height = self.size()
        if cmd in (0x2A, 0x2B) and len(data) >= 4:
            lo, hi = data[0] << 8 | data[1], data[2] << 8 | data[3]
            limit = width if cmd == 0x2A else height
            if lo > hi or hi >= limit:
                self.errors.append(
                    "%s %d..%d outside 0..%d"
                    % ("CASET" if cmd == 0x2A else "RASET", lo, hi, limit - 1)
                )
            elif cmd == 0x2A:
                self.x0, self.x1 = lo, hi
            else:
                self.y0, self.y1 = lo, hi
        elif cmd == 0x36 and data:
            self.madctl = data[0]
        elif cmd == 0x3A and data:
            self.colmod = data[0]
            if data[0] & 0x77 != 0x55:
                self.errors.append("COLMOD %02x: only 16-bit colour is modelled" % data[0])
        self._cmd = None
        self._data = bytearray()

    def _pixels(self, data):
        if self.log is not None:
            self.log[-1][1].extend(data)
        if self.colmod & 0x77 != 0x55:
            self.errors.append("RAMWR before COLMOD 16-bit")
            return
        i, n = 0, len(data)
        if self._half >= 0 and n:
            self._put(self._half, data[0])
            self._half = -1
            i = 1
        while n - i >= 2:
            k = min((n - i) // 2, self.x1 - self._x + 1)  # pixels to the window row's end
            if _STEP_SLICES and k > 1:
                self._run(bytes(data[i : i + 2 * k]), k)
            else:
                for j in range(k):
                    self._put(data[i + 2 * j], data[i + 2 * j + 1])
            i += 2 * k
        if i < n:
            self._half = data[i]

    def _put(self, high, low):
        at = self._address(self._x, self._y)
        self.ram[at] = high
        self.ram[at + 1] = low
        self._advance(1)

    def _run(self, seg, k):
        """``k`` pixels along one window row at once: in RAM they lie a constant step apart."""
        ram = self.ram
        a0 = self._address(self._x, self._y)
        step = self._address(self._x + 1, self._y) - a0
        if step > 0:
            ram[a0 : a0 + step * k : step] = seg[0::2]
            ram[a0 + 1 : a0 + 1 + step * k : step] = seg[1::2]
        else:
            last = a0 + step * (k - 1)
            ram[last : a0 + 1 : -step] = seg[-2::-2]
            ram[last + 1 : a0 + 2 : -step] = seg[-1::-2]
        self._advance(k)

    def _advance(self, k):
        self._x += k
        if self._x > self.x1:
            self._x = self.x0
            self._y += 1
            if self._y > self.y1:
                self._y = self.y0


def _step_slices():
    try:  # CPython; MicroPython's bytearray may lack slice assignment with a step
        b = bytearray(4)
        b[0:4:2] = b"ab"
        b[3:0:-2] = b"cd"
        return bytes(b) == b"adbc"
    except Exception:
        return False


_STEP_SLICES = _step_slices()


class SimSpi:
    """machine.SPI's write and readinto, into an ST7789Chip."""

    def __init__(self, chip, baudrate=40_000_000):
        self.chip = chip
        self.baudrate = baudrate
        self.fail = None  # an exception every write raises
        self.fail_after = -1  # >= 0: that many more writes go through, then ``fail`` is set
        self.bytes_written = 0

    def init(self, baudrate=None, **settings):
        if baudrate is not None:
            self.baudrate = baudrate

    def write(self, data):
        if self.fail_after == 0:
            self.fail_after = -1
            self.fail = OSError(5)  # EIO: the bus broke in the middle of a screen
        elif self.fail_after > 0:
            self.fail_after -= 1
        if self.fail is not None:
            raise self.fail
        self.bytes_written += len(data)
        self.chip.clock_in(data)

    def readinto(self, buf, write=0):
        if self.fail is not None:
            raise self.fail
        self.chip.clock_out(buf, self.baudrate)


class SimPin:
    """A pin wired to the chip's CS or D/C line (RST resets the chip on a rising edge)."""

    def __init__(self, chip, line):
        self.chip = chip
        self.line = line
        self.level = 1

    def value(self, v=None):
        if v is None:
            return self.level
        rising = v and not self.level
        self.level = 1 if v else 0
        if self.line == "cs":
            self.chip.set_cs(self.level)
        elif self.line == "dc":
            self.chip.set_dc(self.level)
        elif self.line == "rst" and rising:
            self.chip._reset_state()
        return None


def rgb888(c):
    """An RGB565 value as (r, g, b), 8 bits each."""
    r, g, b = (c >> 11) & 31, (c >> 5) & 63, c & 31
    return (r * 255 // 31, g * 255 // 63, b * 255 // 31)


def write_png(chip, path, scale=2):
    """The landscape picture as a person sees it (CPython: Pillow)."""
    from PIL import Image  # type: ignore[import-not-found]  # CPython (desktop) only

    width, height = chip.size()
    image = Image.new("RGB", (width, height))
    if chip.display_on and not chip.asleep:
        px = image.load()
        for y in range(height):
            for x in range(width):
                px[x, y] = rgb888(chip.pixel(x, y))
    if scale != 1:
        image = image.resize((width * scale, height * scale), Image.NEAREST)
    image.save(path)
