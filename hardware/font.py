"""The display's bitmap font, read from flash one glyph at a time (MicroPython).

The font file (``build/font/unifont_jp16.dkf``, made by ``dakoku font build`` from Debian's
unifont package; format in tools/dakoku/fontbuild.py) is about 240 KB: it stays on flash. RAM
holds only the page table (512 bytes: which page map serves each high byte of a code point), one
page map (66 bytes) and one glyph (32 bytes). Finding a glyph costs at most two reads: the page
map, unless it is the one already held, then the glyph itself.

The flash object is anything with ``readinto(addr, buf)``: hardware.flash.BlockDeviceFlash over
a raw partition, or :class:`FileFlash` over the file on the board's filesystem::

    font = Font(FileFlash("/font/unifont_jp16.dkf"))
    n = font.lookup(ord("山"))     # -1 when the font lacks it, else glyph number × 2 + wide
    font.read(n >> 1)              # font.glyph: 16 rows × 2 bytes, MONO_HLSB
"""

from micropython import const

MAGIC = b"DKF1"
_HEADER_BYTES = const(16)
_PAGE_TABLE_BYTES = const(512)
_MAP_BYTES = const(66)
_GLYPH_BYTES = const(32)
_NO_PAGE = const(0xFFFF)


def _u16(b, i):
    return b[i] | b[i + 1] << 8


def _u32(b, i):
    return _u16(b, i) | _u16(b, i + 2) << 16


def _ones(byte):
    n = 0
    while byte:
        byte &= byte - 1
        n += 1
    return n


class FileFlash:
    """A file on the board's filesystem seen as flash: ``readinto(addr, buf)``."""

    def __init__(self, path):
        self.file = open(path, "rb")

    def readinto(self, addr, buf):
        self.file.seek(addr)
        if self.file.readinto(buf) != len(buf):
            raise OSError("font file ends before byte %d" % (addr + len(buf)))


class Font:
    """Glyph look-up over a font file on flash. ``reads`` counts the flash reads made."""

    def __init__(self, flash):
        self.flash = flash
        header = bytearray(_HEADER_BYTES)
        flash.readinto(0, header)
        if bytes(header[0:4]) != MAGIC:
            raise ValueError("not a dakoku font file (starts %r)" % bytes(header[0:4]))
        if header[5] != _GLYPH_BYTES:
            raise ValueError("font glyphs of %d bytes, expected 32" % header[5])
        self.height = header[4]
        self.count = _u16(header, 6)
        self._maps_at = _u32(header, 8)
        self._glyphs_at = _u32(header, 12)
        self._pages = bytearray(_PAGE_TABLE_BYTES)
        flash.readinto(_HEADER_BYTES, self._pages)
        self._map = bytearray(_MAP_BYTES)
        self._map_page = -1
        self.glyph = bytearray(_GLYPH_BYTES)
        self.reads = 2  # header and page table, once

    def lookup(self, code):
        """``code``'s glyph number × 2 + 1 if it is 16 px wide (else 8 px); -1 if absent."""
        if code < 0 or code > 0xFFFF:
            return -1
        page = code >> 8
        index = _u16(self._pages, page * 2)
        if index == _NO_PAGE:
            return -1
        m = self._map
        if page != self._map_page:
            self._map_page = -1  # a failed read must not leave a stale page behind
            self.flash.readinto(self._maps_at + index * _MAP_BYTES, m)
            self.reads += 1
            self._map_page = page
        low = code & 0xFF
        at = 2 + (low >> 3)
        bit = 1 << (low & 7)
        if not m[at] & bit:
            return -1
        n = _u16(m, 0) + _ones(m[at] & (bit - 1))
        for k in range(2, at):
            n += _ones(m[k])
        return n * 2 + (1 if m[at + 32] & bit else 0)

    def read(self, number):
        """Read glyph ``number`` into :attr:`glyph` (one flash read)."""
        if not 0 <= number < self.count:
            raise ValueError("no glyph %d" % number)
        self.flash.readinto(self._glyphs_at + number * _GLYPH_BYTES, self.glyph)
        self.reads += 1
        return self.glyph
