"""The ST7789 display driver on a simulated chip: bytes on the bus for a known screen, 2× and
1× type, long names cut with a mark, replacement boxes, a display that does not answer, a bus
that fails under a terminal that goes on punching (both runtimes)."""

from display_support import Rig
from test_main import FakeBoard, server

from firmware.main import run
from firmware.terminal import Card
from hardware.st7789 import BANDS, GREY, WIDTH
from simulator.door import card_of

MICROPYTHON_HEAPSIZE = "8M"  # the whole terminal in one test (see test_main)

GREEN = 0x07E0
# Unifont's "A" (unifont_jp.hex, 0041): 8 px wide, one byte a row.
GLYPH_A = bytes.fromhex("0000000018242442427E424242420000")


def windows(log):
    """(CASET, RASET, RAMWR length) of each window written, from the recorded bus."""
    out = []
    for i in range(len(log) - 2):
        if log[i][0] == 0x2A and log[i + 1][0] == 0x2B and log[i + 2][0] == 0x2C:
            out.append((bytes(log[i][1]), bytes(log[i + 1][1]), len(log[i + 2][1])))
    return out


def test_a_known_screen_is_these_bytes_on_the_bus():
    rig = Rig()
    log = rig.record()
    assert rig.display.show(("A",), "ok") is None
    # Every band once (nothing was drawn since the self-test), no status bar (not "ready").
    expected = []
    for top, height, _big in BANDS:
        y = bytes((top >> 8, top & 0xFF, (top + height - 1) >> 8, (top + height - 1) & 0xFF))
        expected.append((b"\x00\x00\x01\x3f", y, WIDTH * height * 2))
    assert windows(log) == expected
    assert [entry[0] for entry in log] == [0x2A, 0x2B, 0x2C] * len(BANDS)
    # Band 0: "A" in 2× type at x 4, green on black, high byte first; nothing else lit.
    data = log[2][1]
    want = bytearray(WIDTH * 32 * 2)
    for r in range(32):
        bits = GLYPH_A[r // 2]
        for c in range(16):
            if bits & (0x80 >> (c // 2)):
                at = (r * WIDTH + 4 + c) * 2
                want[at], want[at + 1] = GREEN >> 8, GREEN & 0xFF
    assert bytes(data) == bytes(want)
    assert rig.display.last_bytes == sum(1 + len(entry[1]) for entry in log)
    # The same screen again sends nothing; one changed line sends its band only.
    log.clear()
    assert rig.display.show(("A",), "ok") is None and log == [] and rig.display.last_bytes == 0
    rig.display.show(("A", "B"), "ok")
    assert windows(log) == [(b"\x00\x00\x01\x3f", b"\x00\x30\x00\x4f", WIDTH * 32 * 2)]
    assert rig.chip.errors == []


def test_ready_screen_fills_the_status_bar_and_feedback_leaves_it():
    rig = Rig()
    log = rig.record()
    rig.display.show(("09:00 出勤", "カードをタッチ", "オンライン 未送信 3"), "ready")
    assert (b"\x00\xd8\x00\xef") in [w[1] for w in windows(log)]  # rows 216..239
    assert rig.chip.pixel(0, 216) == GREY and rig.chip.pixel(319, 239) == GREY
    log.clear()
    rig.display.show(("山田 太郎", "出勤 09:01", "記録しました"), "ok")
    rows = [w[1] for w in windows(log)]
    assert rows == [b"\x00\x08\x00\x27", b"\x00\x30\x00\x4f", b"\x00\x60\x00\x7f"], rows
    # Three 32-px bands: the modelled feedback time at 40 MHz is well under 30 ms.
    assert rig.display.last_bytes < WIDTH * 32 * 2 * 3 + 100
    assert rig.display.last_draw_ms < 30


def test_a_line_too_wide_for_2x_is_drawn_1x_and_a_name_too_wide_for_1x_is_cut_with_a_mark():
    rig = Rig()
    d, font = rig.display, rig.font
    n, scale, cut = d.layout("サーバーに接続できません", True)  # 12 full-width: 384 px at 2×
    assert (n, scale, cut) == (12, 1, False)
    assert d.layout("未登録カード(記録)", True) == (10, 2, False)  # ASCII brackets: 288 px
    name = "山田 Alexander 太郎左衛門之助右衛門三世五郎"
    n, scale, cut = d.layout(name, True)
    assert scale == 1 and cut
    # Independently: ASCII 8 px, kanji 16 px, "…" 8 px, within 312 px.
    width = 0
    keep = 0
    for ch in name:
        w = 8 if ord(ch) < 0x80 else 16
        if width + w > 312 - 8:
            break
        width += w
        keep += 1
    assert 0 < keep < len(name)
    assert n == keep + 1
    drawn = d._glyphs[:n]
    assert drawn == [font.lookup(ord(c)) for c in name[:keep]] + [font.lookup(0x2026)]
    # On the chip: the band is black right of the mark.
    d.show((name,), "ok")
    end = 4 + width + 8
    for x in range(end, WIDTH):
        for y in range(8 + 8, 8 + 24):
            assert rig.chip.pixel(x, y) == 0, (x, y)
    assert rig.chip.pixel(4 + width + 1, 8 + 8 + 13) == GREEN  # a dot of the "…"


def test_characters_the_font_lacks_are_boxes_and_named_in_the_answer():
    rig = Rig()
    d = rig.display
    assert rig.font.lookup(0x20BB7) == -1 and rig.font.lookup(ord("한")) == -1
    problem = d.show(("𠮷田 한", "出勤 09:01", "記録しました"), "ok")
    assert problem == "display: no glyph for U+20BB7 (drawn as a box)", problem
    assert d.missing == 2
    # The box at 2×: an outline 28 px square at (6, 10), black inside.
    assert rig.chip.pixel(6, 10) == GREEN and rig.chip.pixel(33, 37) == GREEN
    assert rig.chip.pixel(20, 24) == 0
    # The next screen with known characters only: no problem.
    assert d.show(("田中", "出勤 09:02", "記録しました"), "ok") is None


def test_a_display_that_does_not_answer_says_so():
    rig = Rig(selftest=False)
    rig.chip.present = False  # unplugged: MISO pulled up
    assert rig.display.selftest() == "ST7789: no answer (display ID ffffff)"
    assert rig.display.fault == "ST7789: no answer (display ID ffffff)"
    rig.chip.miso_idle = 0x00  # pulled down
    assert rig.display.selftest() == "ST7789: no answer (display ID 000000)"
    other = Rig(selftest=False, display_id=0x009341)
    assert other.display.selftest() == "ST7789: display ID 009341 is not an ST7789's"
    healthy = Rig(selftest=False)
    assert healthy.display.selftest() is None and healthy.display.display_id == 0x858552
    assert healthy.chip.display_on and not healthy.chip.asleep and healthy.chip.madctl == 0x60
    assert healthy.spi.baudrate == 40_000_000  # the ID is read slowly, then back to 40 MHz
    fast = Rig(selftest=False)
    fast.display.read_hz = 40_000_000  # reading at the write clock: the chip cannot answer
    assert fast.display.selftest() == "ST7789: no answer (display ID ffffff)"


def test_a_failing_bus_is_reported_redrawn_when_back_and_never_raised():
    rig = Rig()
    d = rig.display
    rig.spi.fail = OSError(5)
    problem = d.show(("山田 太郎", "出勤 09:01", "記録しました"), "ok")
    assert problem is not None and problem.startswith("ST7789: OSError"), problem
    assert d.fault == problem
    rig.spi.fail = None
    log = rig.record()
    assert d.show(("山田 太郎", "出勤 09:01", "記録しました"), "ok") is None
    assert d.fault is None and len(windows(log)) == len(BANDS)  # everything again


def test_the_terminal_keeps_punching_with_a_dead_display():
    _store, srv = server()
    rig = Rig()
    rig.spi.fail = OSError(5)
    answers = []

    class Board(FakeBoard):
        def show(self, lines, style):
            FakeBoard.show(self, lines, style)
            answers.append(rig.display.show(lines, style))

    board = Board(srv, {2000: Card(card_of(1)), 6000: Card(card_of(2))})
    loop = run(board, turns=400)
    assert loop.journal.next_seq == 3 and board.beeps.count("ok") == 2
    assert answers and all(a is not None and a.startswith("ST7789") for a in answers)


def test_a_glyph_costs_at_most_two_flash_reads():
    rig = Rig(selftest=False)
    font = rig.font
    before = font.reads
    for ch in "アイウエオ":  # one page (U+30xx): its map once, then a glyph each
        font.read(font.lookup(ord(ch)) >> 1)
    assert font.reads - before == 6
    name = "髙橋 﨑子"  # a different page for almost every character
    before = font.reads
    for ch in name:
        font.read(font.lookup(ord(ch)) >> 1)
    assert font.reads - before <= 2 * len(name)
    rig.display.selftest()
    before = font.reads
    rig.display.show((name, "出勤 09:01", "記録しました"), "ok")
    chars = len(name) + len("出勤 09:01") + len("記録しました")
    assert font.reads - before <= 2 * chars


def test_a_status_bar_lost_to_a_bus_error_is_drawn_at_the_next_screen():
    # Shrunk by tests/tools/test_display_statemachine.py: the ready screen failed, the bus
    # came back, and the next (non-ready) screen left the status bar black.
    rig = Rig()
    rig.spi.fail = OSError(5)
    assert rig.display.show(("09:00 出勤", "カードをタッチ", "オンライン"), "ready") is not None
    rig.spi.fail = None
    assert rig.display.show(("リーダー異常",), "error") is None
    assert rig.chip.pixel(0, 216) == GREY and rig.chip.pixel(319, 239) == GREY


def test_a_mono_blit_through_a_palette_clips_at_every_edge_and_honours_the_key():
    # framebuf on MicroPython, hardware/fbcompat.py on CPython: the same pixels, checked one by
    # one against the glyph's own bits (fbcompat draws a row at a time unless a key is given).
    from hardware.st7789 import framebuf

    glyph = bytearray(GLYPH_A[i // 2] if i % 2 == 0 else 0x81 for i in range(32))
    src = framebuf.FrameBuffer(glyph, 16, 16, framebuf.MONO_HLSB)
    palette = framebuf.FrameBuffer(bytearray(4), 2, 1, framebuf.RGB565)
    palette.pixel(0, 0, 0x1234)
    palette.pixel(1, 0, 0xABCD)
    for x, y, key in ((-3, -2, -1), (26, 10, -1), (5, 3, 0x1234), (5, 3, 0xABCD)):
        dst = framebuf.FrameBuffer(bytearray(32 * 24 * 2), 32, 24, framebuf.RGB565)
        dst.fill(0x5555)
        dst.blit(src, x, y, key, palette)
        for ty in range(24):
            for tx in range(32):
                sx, sy = tx - x, ty - y
                want = 0x5555
                if 0 <= sx < 16 and 0 <= sy < 16:
                    bit = glyph[sy * 2 + (sx >> 3)] & (0x80 >> (sx & 7))
                    c = 0xABCD if bit else 0x1234
                    want = want if c == key else c
                assert dst.pixel(tx, ty) == want, (x, y, key, tx, ty)
