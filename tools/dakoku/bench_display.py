"""The display's figures for ``dakoku bench board`` (hardware/st7789.py, hardware/font.py).

- ``display_feedback_ms``: modelled time to draw a feedback screen after the ready screen:
  every byte the driver sent for it (commands, windows, pixels) × 8 bits at the SPI clock
  (40 MHz), worst over sample screens (Japanese names, a name cut with a mark, an unknown
  card, offline, English). ``display_feedback_changed_ms`` counts only the pixels that changed
  in the chip's frame memory (× 16 bits): the floor a pixel-exact diff would reach.
  ``display_ready_ms`` is the way back; ``display_full_screen_ms`` the whole panel, for scale.
- ``glyph_flash_reads``: flash reads per character drawn, worst over the screens (a page map
  when the page is not the one held, then the glyph); ``glyph_flash_reads_max_one_char`` the
  worst single character.
- ``font_ram_bytes_micropython``: heap the opened font holds on the real MicroPython
  (``gc.mem_alloc()`` after a collection, before and after ``Font(FileFlash(...))``; the file
  object included). ``display_ram_bytes_micropython``: the same for the driver (its 20 KB band
  buffer, the 2× glyph, the palette).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

READY = ("09:00 出勤", "カードをタッチ", "オンライン 未送信 3")
FEEDBACK = [
    (("山﨑 花子", "出勤 09:01", "記録しました"), "ok"),
    (("髙橋 德太郎", "退勤 18:30", "残業残り 12 h"), "ok"),
    (("寿限無寿限無五劫の擦り切れ海砂利水魚の水行末", "出勤 09:02", "記録しました"), "ok"),
    (("未登録カード(記録)", "打刻 09:03", "オフライン保存"), "offline"),
    (("Alice Smith", "Clock in 09:04", "Recorded"), "ok"),
]

_GUEST = """
import gc
from hardware.font import FileFlash, Font
from hardware.st7789 import ST7789
from simulator.display import SimPin, SimSpi, ST7789Chip
chip = ST7789Chip()
spi = SimSpi(chip)
dc = SimPin(chip, "dc")
cs = SimPin(chip, "cs")
gc.collect()
a = gc.mem_alloc()
font = Font(FileFlash("/repo/build/font/unifont_jp16.dkf"))
gc.collect()
b = gc.mem_alloc()
display = ST7789(spi, dc, cs, font)
gc.collect()
c = gc.mem_alloc()
print(b - a, c - b)
"""


def _rig():
    from dakoku.fontbuild import DEFAULT_OUTPUT, INSTALL_HINT
    from hardware.font import FileFlash, Font
    from hardware.st7789 import ST7789
    from simulator.display import SimPin, SimSpi, ST7789Chip

    path = Path(__file__).resolve().parents[2] / DEFAULT_OUTPUT
    if not path.exists():
        raise RuntimeError(f"no display font {path}: {INSTALL_HINT}")
    chip = ST7789Chip()
    font = Font(FileFlash(str(path)))
    display = ST7789(SimSpi(chip), SimPin(chip, "dc"), SimPin(chip, "cs"), font)
    if display.selftest() is not None:
        raise RuntimeError("simulated display: " + str(display.fault))
    return chip, font, display


def bench_display() -> dict:
    from dakoku.micropython import shared_interpreter

    chip, font, display = _rig()
    feedback_ms = changed_ms = ready_ms = 0.0
    per_char = 0.0
    for lines, style in FEEDBACK:
        display.show(READY, "ready")
        before = bytes(chip.ram)
        reads = font.reads
        display.show(lines, style)
        chars = sum(len(line) for line in lines)
        per_char = max(per_char, (font.reads - reads) / chars)
        feedback_ms = max(feedback_ms, display.last_draw_ms)
        after = chip.ram
        changed = sum(1 for i in range(0, len(after), 2) if after[i : i + 2] != before[i : i + 2])
        changed_ms = max(changed_ms, changed * 16 * 1000 / display.spi_hz)
        display.show(READY, "ready")
        ready_ms = max(ready_ms, display.last_draw_ms)
    worst_one = 0
    for lines, _style in FEEDBACK:
        for ch in "".join(lines):
            reads = font.reads
            g = font.lookup(ord(ch))
            if g >= 0:
                font.read(g >> 1)
            worst_one = max(worst_one, font.reads - reads)
            font._map_page = -1  # the worst case: the page map not held
    out: dict = {
        "display_controller": f"ST7789 320x240 RGB565, SPI {display.spi_hz // 10**6} MHz",
        "display_feedback_ms": round(feedback_ms, 2),
        "display_feedback_changed_ms": round(changed_ms, 2),
        "display_ready_ms": round(ready_ms, 2),
        "display_full_screen_ms": round(display.draw_ms(320 * 240 * 2), 2),
        "glyph_flash_reads": round(per_char, 2),
        "glyph_flash_reads_max_one_char": worst_one,
        "font_glyphs": font.count,
    }
    with tempfile.TemporaryDirectory() as scratch:
        res = shared_interpreter().run(
            ["-X", "heapsize=1M", "-c", _GUEST], scratch=Path(scratch), timeout_s=300
        )
    if not res.ok:
        raise RuntimeError("guest display heap: " + res.stderr.decode(errors="replace"))
    font_bytes, display_bytes = (int(v) for v in res.stdout.split())
    out["font_ram_bytes_micropython"] = font_bytes
    out["display_ram_bytes_micropython"] = display_bytes
    return out
