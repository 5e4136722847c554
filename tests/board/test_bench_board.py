"""The pieces of `dakoku bench board` run and count what they say (no timing asserted)."""

from __future__ import annotations

from dakoku import bench_board


def test_a_tap_on_the_pit_board_programs_one_page_and_erases_nothing():
    tap = bench_board._one_tap()
    assert tap["journal_programs"] == 1 and tap["journal_erases"] == 0
    assert 0 < tap["roster_reads"] <= 8 and tap["roster_bytes"] > 0  # a hashed lookup, 1,000


def test_tap_to_ok_is_the_sum_of_its_terms_and_the_display_term_is_the_drivers_ok_screen():
    from hardware.font import FileFlash, Font
    from hardware.st7789 import ST7789
    from simulator.display import SimPin, SimSpi, ST7789Chip
    from simulator.parts.board import font_file

    figures = bench_board.tap_to_ok()
    terms = ("tap_reader_ms", "tap_lookup_ms", "tap_journal_ms", "tap_display_ms")
    assert abs(figures["tap_to_ok_ms"] - sum(figures[t] for t in terms)) < 0.01
    # The same two screens on a display of its own: the bytes the OK screen sends, at 40 MHz.
    (ready, ready_style), (ok, ok_style) = bench_board._one_tap()["screens"]
    assert ready_style == "ready" and ok_style == "ok"
    chip = ST7789Chip()
    own = ST7789(SimSpi(chip), SimPin(chip, "dc"), SimPin(chip, "cs"), Font(FileFlash(font_file())))
    assert own.selftest() is None and own.show(ready, "ready") is None
    assert own.show(ok, "ok") is None
    assert figures["tap_display_bytes"] == own.last_bytes > 3 * 320 * 32 * 2  # three bands
    assert figures["tap_display_ms"] == round(own.last_bytes * 8 / 40_000, 2)
