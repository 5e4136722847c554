"""The PNG in README and docs/HARDWARE.md is what the driver draws today (CPython: Pillow)."""

from __future__ import annotations

from pathlib import Path

from dakoku import displaycli
from PIL import Image

from simulator.display import ST7789Chip, write_png

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_png_is_the_drivers_feedback_screen(tmp_path):
    fresh = tmp_path / "screen.png"
    problem = displaycli.render(displaycli.DEFAULT_LINES, "ok", displaycli.READY[-1], fresh)
    assert problem is None
    committed = Image.open(ROOT / displaycli.DOCS_PNG).convert("RGB")
    drawn = Image.open(fresh).convert("RGB")
    assert committed.size == drawn.size == (640, 480)
    assert committed.tobytes() == drawn.tobytes(), "run: dakoku display png"
    # Green text on black, a grey status bar: the picture is not blank.
    colours = {c for _n, c in drawn.getcolors(1 << 16)}
    assert {(0, 0, 0), (0, 255, 0), (197, 194, 197)} <= colours, colours


def test_a_display_that_is_off_or_asleep_is_black(tmp_path):
    chip = ST7789Chip()
    chip.ram[:] = b"\xff" * len(chip.ram)  # memory written, but the panel never switched on
    write_png(chip, str(tmp_path / "off.png"), 1)
    assert Image.open(tmp_path / "off.png").convert("RGB").getcolors() == [(240 * 320, (0, 0, 0))]
