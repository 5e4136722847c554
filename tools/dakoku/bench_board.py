"""``dakoku bench board``: the board's parts, each part's figures from its own function.

- the finger modules: tools/dakoku/bench_finger.py (``finger_identify_ms``, …; each figure is
  described there).
"""

from __future__ import annotations


def bench_board() -> dict:
    from dakoku.bench_finger import bench_finger

    out: dict = {}
    out.update(bench_finger())
    return out
