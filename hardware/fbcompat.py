"""The part of MicroPython's ``framebuf`` the display driver uses, for CPython.

On the device (and in the WASI MicroPython) ``framebuf`` is built in and this module is not
imported. Here: ``FrameBuffer`` over a buffer in MONO_HLSB (1 bit a pixel, rows of bytes, most
significant bit left) or RGB565 (2 bytes a pixel, little-endian, as framebuf stores it), with
``fill``, ``fill_rect``, ``rect``, ``pixel`` and ``blit`` (with ``key`` and ``palette``)
behaving as framebuf's do, clipping included.
"""

MONO_HLSB = 3
RGB565 = 1

_PATTERNS = {}  # type: dict  # (colour 0, colour 1) -> the 16 RGB565 bytes of each mono byte


def _patterns(c0, c1):
    table = _PATTERNS.get((c0, c1))
    if table is None:
        px = (bytes((c0 & 0xFF, (c0 >> 8) & 0xFF)), bytes((c1 & 0xFF, (c1 >> 8) & 0xFF)))
        table = [b"".join(px[(v >> (7 - i)) & 1] for i in range(8)) for v in range(256)]
        if len(_PATTERNS) >= 32:
            _PATTERNS.clear()
        _PATTERNS[(c0, c1)] = table
    return table


class FrameBuffer:
    def __init__(self, buffer, width, height, format, stride=None):
        if format not in (MONO_HLSB, RGB565):
            raise ValueError("fbcompat: only MONO_HLSB and RGB565")
        self.buffer = memoryview(buffer).cast("B") if isinstance(buffer, memoryview) else buffer
        self.width = width
        self.height = height
        self.format = format
        self.stride = width if stride is None else stride
        need = (self.stride + 7) // 8 * height if format == MONO_HLSB else self.stride * height * 2
        if len(buffer) < need:
            raise ValueError("buffer too small")

    def pixel(self, x, y, c=None):
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        b = self.buffer
        if self.format == MONO_HLSB:
            at = y * ((self.stride + 7) // 8) + (x >> 3)
            bit = 0x80 >> (x & 7)
            if c is None:
                return 1 if b[at] & bit else 0
            b[at] = (b[at] | bit) if c else (b[at] & ~bit & 0xFF)
            return None
        at = (y * self.stride + x) * 2
        if c is None:
            return b[at] | b[at + 1] << 8
        b[at] = c & 0xFF
        b[at + 1] = (c >> 8) & 0xFF
        return None

    def fill_rect(self, x, y, w, h, c):
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        if self.format == RGB565:
            run = bytes((c & 0xFF, (c >> 8) & 0xFF)) * (x1 - x0)
            for row in range(y0, y1):
                at = (row * self.stride + x0) * 2
                self.buffer[at : at + len(run)] = run
            return
        for row in range(y0, y1):
            for col in range(x0, x1):
                self.pixel(col, row, c)

    def fill(self, c):
        self.fill_rect(0, 0, self.width, self.height, c)

    def rect(self, x, y, w, h, c, f=False):
        if f:
            self.fill_rect(x, y, w, h, c)
            return
        self.fill_rect(x, y, w, 1, c)
        self.fill_rect(x, y + h - 1, w, 1, c)
        self.fill_rect(x, y, 1, h, c)
        self.fill_rect(x + w - 1, y, 1, h, c)

    def _blit_mono(self, fbuf, x, y, c0, c1):
        """A 1-bit picture through a 2-colour palette, a row at a time (no key colour)."""
        table = _patterns(c0, c1)
        src = fbuf.buffer
        row_bytes = (fbuf.stride + 7) // 8
        sx0, sx1 = max(0, -x), min(fbuf.width, self.width - x)
        if sx0 >= sx1:
            return
        dst = self.buffer
        for sy in range(max(0, -y), min(fbuf.height, self.height - y)):
            at = sy * row_bytes
            row = b"".join([table[src[at + i]] for i in range(row_bytes)])
            to = ((y + sy) * self.stride + x + sx0) * 2
            dst[to : to + (sx1 - sx0) * 2] = row[sx0 * 2 : sx1 * 2]

    def blit(self, fbuf, x, y, key=-1, palette=None):
        if palette is not None and fbuf.format == MONO_HLSB and self.format == RGB565:
            c0, c1 = palette.pixel(0, 0), palette.pixel(1, 0)
            if key not in (c0, c1):
                self._blit_mono(fbuf, x, y, c0, c1)
                return
        for sy in range(fbuf.height):
            ty = y + sy
            if not 0 <= ty < self.height:
                continue
            for sx in range(fbuf.width):
                tx = x + sx
                if not 0 <= tx < self.width:
                    continue
                c = fbuf.pixel(sx, sy)
                if palette is not None:
                    c = palette.pixel(c, 0)
                if c != key:
                    self.pixel(tx, ty, c)
