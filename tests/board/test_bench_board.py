"""The pieces of `dakoku bench board` run and count what they say (no timing asserted)."""

from __future__ import annotations

from dakoku import bench_board


def test_a_tap_on_the_pit_board_programs_one_page_and_erases_nothing():
    tap = bench_board._one_tap()
    assert tap["journal_programs"] == 1 and tap["journal_erases"] == 0
    assert 0 < tap["roster_reads"] <= 8 and tap["roster_bytes"] > 0  # a hashed lookup, 1,000


def test_tap_to_ok_is_the_sum_of_its_terms_and_the_display_term_is_the_named_formula():
    figures = bench_board.tap_to_ok()
    terms = ("tap_reader_ms", "tap_lookup_ms", "tap_journal_ms", "tap_display_ms")
    assert abs(figures["tap_to_ok_ms"] - sum(figures[t] for t in terms)) < 0.01
    assert figures["tap_display_ms"] == round(bench_board.display_draw_ms_placeholder(), 2)
    full_frame_ms = 240 * 135 * 16 / 40_000_000 * 1000  # 12.96 ms
    assert (
        abs(bench_board.display_draw_ms_placeholder(240, 135, 16, 40_000_000) - full_frame_ms)
        < 1e-9
    )
