"""dakoku font build: the terminal's bitmap font, converted at build time (CPython).

Source: GNU Unifont's Japanese variant, ``/usr/share/unifont/unifont_jp.hex`` from Debian's
``unifont`` package (16 px glyphs, 8 or 16 px wide; the kanji are Japanese forms). Unifont is
GPL-2+ (upstream adds the GNU font embedding exception), so the repository commits only this
converter, never glyph data: `make setup` runs it, and `.ci/run` installs the package.

Character set: ASCII, JIS X 0201 kana, every character of JIS X 0208 (decoded through
EUC-JP), and Windows-31J's NEC and IBM extensions (decoded through CP932) because names use
them: 髙 (the "ladder" taka), 﨑, 德 are not in JIS X 0208. A character outside the set is
drawn as a replacement box by the driver (hardware/font.py).

File format (hardware/font.py reads it), little-endian:

    header   16 bytes: b"DKF1", height (u8), glyph bytes (u8), u16 glyph count,
             u32 offset of the page maps, u32 offset of the glyphs
    pages    256 × u16: for each high byte of a BMP code point, the index of its page map,
             or 0xFFFF when no character of that page is in the font (read into RAM: 512 bytes)
    maps     per present page, 66 bytes: u16 number of the page's first glyph, 32 bytes of
             presence bits, 32 bytes of "wide" bits (bit n of byte k: code point low byte 8k+n)
    glyphs   glyph count × 32 bytes, rows top to bottom, 2 bytes a row (MONO_HLSB, 16 px wide;
             a narrow glyph uses the left 8 px)

A glyph is found with at most two reads: its page map (the driver keeps the last one), then its
32 bytes.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

DEFAULT_SOURCE = Path("/usr/share/unifont/unifont_jp.hex")
DEFAULT_OUTPUT = Path("build/font/unifont_jp16.dkf")
MAGIC = b"DKF1"
HEIGHT = 16
GLYPH_BYTES = 32
MAP_BYTES = 66
NO_PAGE = 0xFFFF
INSTALL_HINT = "install Debian's unifont package (apt-get install unifont), then run make setup"


def character_set() -> set[int]:
    """The code points the terminal must draw (see the module's docstring)."""
    chars = set(range(0x20, 0x7F))
    chars.update(range(0xFF61, 0xFFA0))  # JIS X 0201 half-width katakana
    chars.add(0x2026)  # the truncation mark
    for hi in range(0xA1, 0xFF):
        for lo in range(0xA1, 0xFF):
            try:
                chars.update(ord(c) for c in bytes((hi, lo)).decode("euc_jp"))
            except UnicodeDecodeError:
                pass
    for hi in [*range(0x81, 0xA0), *range(0xE0, 0xFD)]:
        for lo in range(0x40, 0xFD):
            try:
                chars.update(ord(c) for c in bytes((hi, lo)).decode("cp932"))
            except UnicodeDecodeError:
                pass
    return {c for c in chars if c <= 0xFFFF and not 0xE000 <= c <= 0xF8FF}  # no private use


def read_hex(path: Path) -> dict[int, bytes]:
    """Unifont's .hex: ``XXXX:`` then 32 (8 px wide) or 64 (16 px wide) hex digits."""
    glyphs: dict[int, bytes] = {}
    for number, line in enumerate(path.read_text("ascii").splitlines(), 1):
        if not line.strip():
            continue
        code, sep, bitmap = line.partition(":")
        if not sep or len(bitmap) not in (32, 64):
            raise ValueError(f"{path}:{number}: not a 16 px Unifont .hex line")
        glyphs[int(code, 16)] = bytes.fromhex(bitmap)
    return glyphs


def build(glyphs: dict[int, bytes], wanted: set[int]) -> tuple[bytes, list[int]]:
    """The font file for the ``wanted`` code points that ``glyphs`` has; and those it lacks."""
    present = sorted(c for c in wanted if c in glyphs and c <= 0xFFFF)
    missing = sorted(c for c in wanted if c not in glyphs)
    if len(present) >= NO_PAGE:
        raise ValueError("too many glyphs for a u16 index")
    pages = [NO_PAGE] * 256
    maps = bytearray()
    data = bytearray()
    for n, code in enumerate(present):
        page, low = code >> 8, code & 0xFF
        if pages[page] == NO_PAGE:
            pages[page] = len(maps) // MAP_BYTES
            maps += struct.pack("<H", n) + bytes(64)
        base = pages[page] * MAP_BYTES
        maps[base + 2 + (low >> 3)] |= 1 << (low & 7)
        bitmap = glyphs[code]
        if len(bitmap) == 32:  # 16 px wide
            maps[base + 34 + (low >> 3)] |= 1 << (low & 7)
            data += bitmap
        else:  # 8 px wide: one byte a row, left half
            data += bytes(b for row in bitmap for b in (row, 0))
    maps_at = 16 + 512
    glyphs_at = maps_at + len(maps)
    header = MAGIC + struct.pack("<BBHII", HEIGHT, GLYPH_BYTES, len(present), maps_at, glyphs_at)
    return header + struct.pack("<256H", *pages) + bytes(maps) + bytes(data), missing


def _parser() -> argparse.ArgumentParser:
    from dakoku.clihelp import parser as make_parser

    parser = make_parser(
        "dakoku font",
        "The display's bitmap font. 'build': convert Unifont's Japanese .hex (Debian's unifont\n"
        "package) into the file the terminal reads per glyph (make setup runs it).",
    )
    parser.add_argument("what", choices=["build"], help="what to do: build the font file")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="a Unifont .hex file")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the file to write")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.source.exists():
        sys.stderr.write(f"dakoku font build: {args.source} not found: {INSTALL_HINT}\n")
        return 1
    font, missing = build(read_hex(args.source), character_set())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_bytes(font)
    tmp.replace(args.output)
    count = struct.unpack_from("<H", font, 6)[0]
    print(f"{args.output}: {count} glyphs, {len(font)} bytes; {len(missing)} not in the source")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
