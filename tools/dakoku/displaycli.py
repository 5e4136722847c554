"""dakoku display png: a screen of the terminal, drawn by the real driver, as a PNG (CPython).

The lines go through hardware/st7789.py into the simulated chip (simulator/display.py), whose
frame memory is written out: the picture is what the panel shows, pixel for pixel. A
"ready" screen first, then the screen asked for (so the status bar holds the ready screen's
last line, as on the terminal after a tap).
"""

from __future__ import annotations

import sys
from pathlib import Path

from dakoku.bench_display import READY, _rig

DEFAULT_LINES = ["山﨑 花子", "出勤 09:01", "記録しました"]
DOCS_PNG = Path("docs/display-feedback.png")


def _parser():
    from dakoku.clihelp import parser as make_parser

    parser = make_parser("dakoku display", (__doc__ or "").strip())
    parser.add_argument("what", choices=["png"], help="what to produce: a PNG of a screen")
    parser.add_argument(
        "lines", nargs="*", help="the screen's lines (default: a feedback screen, docs' PNG)"
    )
    parser.add_argument("--style", default="ok", help="ready, ok, offline, error, info, service")
    parser.add_argument("--status", default=READY[-1], help="the status bar's text")
    parser.add_argument("--output", type=Path, default=DOCS_PNG, help="the PNG to write")
    parser.add_argument("--scale", type=int, default=2, help="pixels of PNG per panel pixel")
    return parser


def render(lines, style, status, path, scale=2):
    """Draw ``lines`` after a ready screen; write the panel as a PNG. Returns the problem."""
    from simulator.display import write_png

    chip, _font, display = _rig()
    display.show((READY[0], READY[1], status), "ready")
    problem = display.show(tuple(lines), style)
    write_png(chip, str(path), scale)
    return problem


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    problem = render(args.lines or DEFAULT_LINES, args.style, args.status, args.output, args.scale)
    if problem:
        sys.stderr.write(f"dakoku display: {problem}\n")
    print(f"{args.output}: {len(args.lines or DEFAULT_LINES)} lines, style {args.style}")
    return 0
