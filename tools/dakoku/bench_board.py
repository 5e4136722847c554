"""``dakoku bench board``: the board's parts, each part's figures from its own function.

- the display: tools/dakoku/bench_display.py (``display_feedback_ms``, ``glyph_flash_reads``,
  ``font_ram_bytes_micropython``, …; each figure is described there).
"""

from __future__ import annotations


def bench_board() -> dict:
    from dakoku.bench_display import bench_display

    out: dict = {}
    out.update(bench_display())
    return out
