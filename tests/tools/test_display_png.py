"""The PNG in README and docs/HARDWARE.md is what the driver draws today; and the driver's
pixels are what FreeType draws from Unifont's own OpenType file (Debian's fonts-unifont, which
the unifont package brings): an outside rendering of the same glyphs (CPython: Pillow)."""

from __future__ import annotations

from pathlib import Path

from dakoku import displaycli
from PIL import Image, ImageDraw, ImageFont

from simulator.display import ST7789Chip, write_png

ROOT = Path(__file__).resolve().parents[2]
UNIFONT_JP_OTF = Path("/usr/share/fonts/opentype/unifont/unifont_jp.otf")
LINES = [
    "山﨑 花子 髙橋 德 ｱｲｳｴｵ ABC…",
    "あいうえおかきくけこアイウエオカキクケ",
    "渡邊 齋藤 斎藤 髙田 﨑山 國 澤 邉",
    "出勤 退勤 休憩開始 記録しました 09:01",
]


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


def freetype(text: str) -> Image.Image:
    font = ImageFont.truetype(str(UNIFONT_JP_OTF), 16)
    image = Image.new("1", (400, 16), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # no anti-aliasing: Unifont's pixels
    draw.text((0, 0), text, font=font, fill=1)
    return image


def test_the_drivers_pixels_are_freetypes_rendering_of_unifont(tmp_path):
    assert UNIFONT_JP_OTF.exists(), "apt-get install unifont (it brings fonts-unifont)"
    chip, _font, display = displaycli._rig()
    for text in LINES:
        assert display.show(("", "", "", text), "ok") is None  # band 3: 1×, rows 144..159
        ours = Image.new("1", (320, 16), 0)
        for y in range(16):
            for x in range(320):
                if chip.pixel(x, 144 + y):
                    ours.putpixel((x, y), 1)
        theirs = freetype(text)
        a, b = ours.crop(ours.getbbox()), theirs.crop(theirs.getbbox())
        assert a.size == b.size and a.tobytes() == b.tobytes(), text
