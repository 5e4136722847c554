"""ST7789 SPI TFT (320 × 240, RGB565): the terminal's screens in Japanese (MicroPython).

Why this controller: PiT-style door terminals have a colour screen large enough for a name
in big type and a status bar; 2.0"–2.4" 320 × 240 ST7789 modules are the common part, on
ESP32-S3 boards at 40 MHz SPI (80 MHz APB / 2; the datasheet's write cycle allows 62.5 MHz).
An SSD1306 (128 × 64) holds 8 full-width characters a line: too few for the messages.

hardware/board.py's ``make_st7789`` builds it from a profile's display slot; by hand::

    display = ST7789(spi, dc, cs, Font(FileFlash("/font/unifont_jp16.dkf")),
                     rst=rst, wait_ms=time.sleep_ms)
    display.selftest()      # None, or what failed (text): the boot self-test's event 5
    display.show(lines, style)   # -> None or a problem (text): Board keeps it as a fault
    display.last_draw_ms    # modelled bus time of the last show()

- ``spi`` has ``write(buf)`` and ``readinto(buf)`` (machine.SPI); ``dc``, ``cs`` and ``rst``
  are pins with ``value(v)``. ``wait_ms`` is only used by ``selftest`` (reset and sleep-out
  delays); without it nothing waits (simulated chips).
- ``selftest()`` resets the chip, reads its ID (RDDID: needs the module's SDO wired to MISO;
  pass ``verify_id=False`` for modules without it), configures it and clears the screen. It
  returns None, or ``"ST7789: no answer (display ID ffffff)"`` and the like; the configuration
  is sent all the same (a display whose MISO is broken still shows).
- ``show(lines, style)`` takes what the terminal's ``Show`` action holds (firmware/terminal.py)
  and never raises: a bus error is returned as text (``fault`` keeps it), so the terminal goes
  on punching. A character the font lacks is drawn as a box and named in the returned text.

Layout (landscape, MADCTL MV|MX): five text bands and a status bar. Bands 0–2 (32 px) draw
their line in 2× type when it fits in 312 px, else 1×; bands 3–4 (16 px) 1×. A line wider than
its band at 1× is cut on a character boundary (str indexing: never a broken UTF-8 sequence)
and ends with "…". On a ``ready`` screen the last line (mode, unsent count, maintenance
notice: ``Terminal._status_line``) goes to the status bar; other screens leave the bar as it
was. Only bands whose text or style changed are sent, each as one CASET/RASET/RAMWR window:
a feedback screen after the ready screen sends three 32-px bands (61,440 bytes, 12.3 ms at
40 MHz). RAM: one 320 × 32 RGB565 band buffer (20 KB), a 2× glyph (128 bytes); the font's
own RAM is in hardware/font.py (about 0.6 KB).
"""

from micropython import const

try:
    import framebuf
except ImportError:  # CPython: the same calls, in Python
    from hardware import fbcompat as framebuf  # type: ignore[no-redef]

_SWRESET = const(0x01)
_RDDID = const(0x04)
_SLPOUT = const(0x11)
_NORON = const(0x13)
_INVON = const(0x21)
_DISPON = const(0x29)
_CASET = const(0x2A)
_RASET = const(0x2B)
_RAMWR = const(0x2C)
_MADCTL = const(0x36)
_COLMOD = const(0x3A)

MADCTL_LANDSCAPE = const(0x60)  # MV | MX: row/column exchange, columns mirrored
COLMOD_RGB565 = const(0x55)
# RDDID of ST7789V modules (85 85 52), and of another ST7789 board seen answering 81 81 B3.
ST7789_IDS = (0x858552, 0x8181B3)

WIDTH = const(320)
HEIGHT = const(240)
_MARGIN = const(4)
_MAX_CHARS = const(40)  # a 312-px line holds at most 39 narrow characters
_MARK = const(0x2026)  # "…"

# (top, height, 2× allowed) of each text band; the status bar below.
BANDS = ((8, 32, True), (48, 32, True), (96, 32, True), (144, 16, False), (168, 16, False))
STATUS_TOP = const(216)
STATUS_HEIGHT = const(24)

BLACK = const(0x0000)
WHITE = const(0xFFFF)
GREY = const(0xC618)
# Text colour of each style (RGB565).
COLOURS = {
    "ready": WHITE,
    "ok": 0x07E0,  # green
    "offline": 0xFD80,  # amber
    "error": 0xF800,  # red
    "info": 0xFFE0,  # yellow
    "service": 0x07FF,  # cyan
}

# A nibble with each bit doubled (2× type): 0b1010 -> 0b11001100.
_DOUBLE = bytes(
    ((n & 8) and 0xC0) | ((n & 4) and 0x30) | ((n & 2) and 0x0C) | ((n & 1) and 0x03)
    for n in range(16)
)


def _swap(c):
    # framebuf stores RGB565 little-endian; the ST7789 takes the high byte first.
    return ((c & 0xFF) << 8) | (c >> 8)


class ST7789:
    def __init__(
        self,
        spi,
        dc,
        cs,
        font,
        rst=None,
        wait_ms=None,
        spi_hz=40_000_000,
        read_hz=6_000_000,
        verify_id=True,
        invert=True,
    ):
        self.spi = spi
        self.dc = dc
        self.cs = cs
        self.rst = rst
        self.font = font
        self.wait_ms = wait_ms
        self.spi_hz = spi_hz
        self.read_hz = read_hz  # reads are slower: a 150 ns read cycle, about 6.6 MHz
        self.verify_id = verify_id
        self.invert = invert  # IPS panels need INVON for true colours
        self.fault = None  # the last bus error (text), until a show succeeds
        self.display_id = None
        self.bytes_sent = 0  # on the bus, since the driver was made
        self.last_bytes = 0  # by the last show()
        self.last_draw_ms = 0.0
        self.missing = 0  # characters drawn as a box, since the driver was made
        self._cmd = bytearray(1)
        self._window = bytearray(4)
        self._id = bytearray(4)
        self._band = bytearray(WIDTH * 32 * 2)
        mv = memoryview(self._band)
        rgb = framebuf.RGB565
        self._fb = {
            32: framebuf.FrameBuffer(self._band, WIDTH, 32, rgb),
            16: framebuf.FrameBuffer(mv[: WIDTH * 16 * 2], WIDTH, 16, rgb),
            24: framebuf.FrameBuffer(mv[: WIDTH * 24 * 2], WIDTH, 24, rgb),
        }
        self._glyph_fb = framebuf.FrameBuffer(font.glyph, 16, 16, framebuf.MONO_HLSB)
        self._big = bytearray(128)
        self._big_fb = framebuf.FrameBuffer(self._big, 32, 32, framebuf.MONO_HLSB)
        self._palette = framebuf.FrameBuffer(bytearray(4), 2, 1, rgb)
        self._glyphs = [0] * (_MAX_CHARS + 1)
        self._shown = [None] * (len(BANDS) + 1)  # type: list  # (text, style) a band; status last
        self._missing_code = -1
        self._status = None  # the last ready screen's status line

    # ------------------------------------------------------------------ the bus

    def _command(self, cmd, data=None):
        self._cmd[0] = cmd
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(self._cmd)
        if data:
            self.dc.value(1)
            self.spi.write(data)
        self.cs.value(1)
        self.bytes_sent += 1 + (len(data) if data else 0)

    def _set_window(self, x0, y0, x1, y1):
        w = self._window
        w[0], w[1], w[2], w[3] = x0 >> 8, x0 & 0xFF, x1 >> 8, x1 & 0xFF
        self._command(_CASET, w)
        w[0], w[1], w[2], w[3] = y0 >> 8, y0 & 0xFF, y1 >> 8, y1 & 0xFF
        self._command(_RASET, w)

    def _wait(self, ms):
        if self.wait_ms is not None:
            self.wait_ms(ms)

    def read_id(self):
        """RDDID: one dummy bit, then ID1 ID2 ID3 (24 bits), read as 4 bytes at ``read_hz``."""
        slow = hasattr(self.spi, "init")
        if slow:
            self.spi.init(baudrate=self.read_hz)
        self._cmd[0] = _RDDID
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(self._cmd)
        self.dc.value(1)
        self.spi.readinto(self._id)
        self.cs.value(1)
        if slow:
            self.spi.init(baudrate=self.spi_hz)
        b = self._id
        raw = b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]
        return (raw >> 7) & 0xFFFFFF

    # ------------------------------------------------------------------ boot

    def selftest(self):
        """Reset, identify, configure and clear the display: None, or what failed (text)."""
        problem = None
        try:
            if self.rst is not None:
                self.rst.value(1)
                self.rst.value(0)
                self._wait(1)
                self.rst.value(1)
                self._wait(120)
            self._command(_SWRESET)
            self._wait(150)
            self.display_id = self.read_id()
            if self.verify_id and self.display_id not in ST7789_IDS:
                if self.display_id in (0, 0xFFFFFF):
                    problem = "ST7789: no answer (display ID %06x)" % self.display_id
                else:
                    problem = "ST7789: display ID %06x is not an ST7789's" % self.display_id
            self._command(_SLPOUT)
            self._wait(10)
            self._command(_COLMOD, bytes((COLMOD_RGB565,)))
            self._command(_MADCTL, bytes((MADCTL_LANDSCAPE,)))
            if self.invert:
                self._command(_INVON)
            self._command(_NORON)
            self._clear()
            self._command(_DISPON)
        except OSError as e:
            problem = "ST7789: bus error: %s" % e
        self.fault = problem
        return problem

    def _clear(self):
        fb = self._fb[32]
        fb.fill(BLACK)
        for top in range(0, HEIGHT, 32):
            self._send_band(fb, top, min(32, HEIGHT - top))
        for i in range(len(self._shown)):
            self._shown[i] = None

    def _send_band(self, fb, top, height):
        self._set_window(0, top, WIDTH - 1, top + height - 1)
        n = WIDTH * height * 2
        self._command(_RAMWR, memoryview(self._band)[:n])

    # ------------------------------------------------------------------ screens

    def show(self, lines, style):
        """Draw a screen (see the module's docstring). Returns None, or a problem (text)."""
        before = self.bytes_sent
        self._missing_code = -1
        try:
            if style == "ready" and len(lines) >= 2:
                self._status = lines[-1]  # what the bar must show, drawn or not
            status = self._status
            body = lines
            if style == "ready" and len(lines) >= 2:
                body = lines[:-1]
            colour = COLOURS.get(style, WHITE)
            for i in range(len(BANDS)):
                text = body[i] if i < len(body) else ""
                key = (text, style) if text else ("", "")  # an empty band is black in any style
                if self._shown[i] != key:
                    top, height, big = BANDS[i]
                    self._draw(text, top, height, big, BLACK, colour)
                    self._shown[i] = key
            if status is not None and self._shown[-1] != (status, "status"):
                self._draw(status, STATUS_TOP, STATUS_HEIGHT, False, GREY, BLACK)
                self._shown[-1] = (status, "status")
            self.fault = None
        except (OSError, ValueError) as e:  # a bus or font-flash failure: report, never raise
            for i in range(len(self._shown)):
                self._shown[i] = None  # redraw everything once the bus is back
            self.fault = "ST7789: %s: %s" % (type(e).__name__, e)
        self.last_bytes = self.bytes_sent - before
        self.last_draw_ms = self.draw_ms(self.last_bytes)
        if self.fault is not None:
            return self.fault
        if self._missing_code >= 0:
            return "display: no glyph for U+%04X (drawn as a box)" % self._missing_code
        return None

    def draw_ms(self, nbytes):
        """Modelled bus time of ``nbytes`` at the SPI clock (8 bits a byte, no gaps)."""
        return nbytes * 8 * 1000 / self.spi_hz

    def layout(self, text, big):
        """(characters drawn, scale, cut): measures ``text`` through the font's page maps."""
        font = self.font
        glyphs = self._glyphs
        width = 0
        n = 0
        for ch in text:
            if n == _MAX_CHARS:
                width = 1 << 16  # more characters than any line holds
                break
            g = font.lookup(ord(ch))
            glyphs[n] = g
            width += 16 if g < 0 or g & 1 else 8
            n += 1
        room = WIDTH - 2 * _MARGIN
        if big and width * 2 <= room:
            return n, 2, False
        if width <= room:
            return n, 1, False
        mark = font.lookup(_MARK)
        room -= 16 if mark < 0 or mark & 1 else 8
        width = 0
        k = 0
        while k < n:
            g = glyphs[k]
            w = 16 if g < 0 or g & 1 else 8
            if width + w > room:
                break
            width += w
            k += 1
        glyphs[k] = mark
        return k + 1, 1, True

    def _draw(self, text, top, height, big, bg, fg):
        fb = self._fb[height]
        pal = self._palette
        pal.pixel(0, 0, _swap(bg))
        pal.pixel(1, 0, _swap(fg))
        fb.fill(_swap(bg))
        count, scale, _cut = self.layout(text, big)
        y = (height - 16 * scale) // 2
        x = _MARGIN
        for k in range(count):
            g = self._glyphs[k]
            if g < 0:
                self.missing += 1
                code = ord(text[k]) if k < len(text) else _MARK
                if self._missing_code < 0:
                    self._missing_code = code
                s = scale
                fb.rect(x + s, y + s, 14 * s, 14 * s, _swap(fg))
                x += 16 * s
                continue
            self.font.read(g >> 1)
            if scale == 1:
                fb.blit(self._glyph_fb, x, y, -1, pal)
            else:
                self._double()
                fb.blit(self._big_fb, x, y, -1, pal)
            x += (16 if g & 1 else 8) * scale
        self._send_band(fb, top, height)

    def _double(self):
        src = self.font.glyph
        big = self._big
        d = _DOUBLE
        for r in range(16):
            b0 = src[2 * r]
            b1 = src[2 * r + 1]
            at = 8 * r
            big[at] = big[at + 4] = d[b0 >> 4]
            big[at + 1] = big[at + 5] = d[b0 & 15]
            big[at + 2] = big[at + 6] = d[b1 >> 4]
            big[at + 3] = big[at + 7] = d[b1 & 15]
