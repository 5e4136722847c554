"""What is built, in one list: the only place a part's state is written.

``dakoku sim`` prints it; README.md and docs/ARCHITECTURE.md carry it between the markers
``<!-- status: begin -->`` and ``<!-- status: end -->``, written by ``dakoku status --write``
and checked by tests/tools/test_status.py. A part changes state here, in the change that builds
it, and ``dakoku status --write`` carries it into the two documents.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BUILT = "built"
PARTLY = "partly built"
NOT_BUILT = "not built"

# (part, state, what is missing or a note, where it is tracked). Markdown: `code` only.
BOARD_NOTE = (
    "simulated only, never run on an ESP32; `firmware/main.py` runs on both profiles in `make sim`"
)

PARTS = (
    ("MicroPython runner, two-runtime tests, setup, CI", BUILT, "", "issue 2"),
    ("flash punch journal (`firmware/journal.py`, docs/JOURNAL.md)", BUILT, "", "issue 3"),
    ("flash storage under faulty flash: silent program and erase faults, decayed bits, a "
     "resized partition; fault sweeps (`dakoku bench journal`)", BUILT,
     "roster format 2 (checked records)",
     "issue 14"),
    ("upload protocol v1, both roles as sans-IO code (`protocol/`, docs/PROTOCOL.md)", BUILT,
     "", "issue 4"),
    ("protocol client against hostile-but-legal receivers; nonces that never repeat, a command "
     "gate, cleaned wire text; stateful property test", BUILT, "", "issue 15"),
    ("terminal firmware core: states, door experience, uplink (`firmware/`, docs/FIRMWARE.md)",
     BUILT, "its heap working set measures 25,376 bytes since issues 13-19, over the 24,576 "
     "target", "issue 5"),
    ("terminal under unusual but real sequences (14 defects fixed); stateful property test",
     BUILT, "", "issue 13"),
    ("firmware update", NOT_BUILT,
     "the firmware answers the protocol's `update_firmware` command `rejected`", "no issue yet"),
    ("reference receiver service, SQLite or PostgreSQL (`dakoku cloud`, docs/RECEIVER.md)",
     BUILT, "", "issue 6"),
    ("the receiver as an operator runs it: durable truth, health, schema caps, fair pacing, "
     "tenant-scoped tokens, sealed secrets, flagged times, safe CSV", BUILT, "", "issue 16"),
    ("the door day against your own receiver (`dakoku sim --receiver`)", BUILT, "",
     "issue 17"),
    ("card reader drivers (PN532, RC-S620S, RC-S380), simulated readers checked by nfcpy "
     "(`hardware/`, `simulator/readers/`, docs/HARDWARE.md)", BUILT, "", "issue 18"),
    ("finger modules (R503 print, XG vein, hybrid), display (ST7789, Japanese font), keys, "
     "buzzer, LED, RTC, network, power; board profiles (`hardware/`, docs/HARDWARE.md)",
     BUILT, BOARD_NOTE, "issue 19"),
    ("the firmware as a device on the desk: service console (`firmware/console.py`), a virtual "
     "board on the real MicroPython with its console on a pty (`dakoku board run`, "
     "docs/HARDWARE.md)", BUILT, "the console's device stream is tested on stand-ins only",
     "issue 20"),
    ("simulator proper: virtual terminals, scenarios, conformance suite", NOT_BUILT,
     "`make sim` runs demonstrations of the parts above", "later issues"),
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/ARCHITECTURE.md")
BEGIN = "<!-- status: begin (written by `dakoku status --write` from tools/dakoku/status.py) -->"
END = "<!-- status: end -->"


def plain(text: str) -> str:
    """Markdown of a part as plain text (the terminal shows no backticks)."""
    return text.replace("`", "")


def lines_plain() -> list[str]:
    """The list as ``dakoku sim`` prints it: a line a part, a note on the line after."""
    out = []
    for part, state, note, where in PARTS:
        mark = "x" if state == BUILT else ("~" if state == PARTLY else " ")
        out.append(f"[{mark}] {state:<12} {plain(part)} ({where})")
        if note:
            out.append(f"{'':17}{plain(note)}")
    return out


def markdown(document: str) -> str:
    """The block between the markers: a list in the README, a table in ARCHITECTURE.md."""
    if document == "README.md":
        rows = []
        for part, state, note, where in PARTS:
            rows.append(f"- **{state}**: {part} ({where}{'; ' + note if note else ''})")
        return "\n".join(rows)
    rows = ["| part | state | tracked in |", "| --- | --- | --- |"]
    for part, state, note, where in PARTS:
        rows.append(f"| {part} | **{state}**{': ' + note if note else ''} | {where} |")
    return "\n".join(rows)


_BLOCK = re.compile(re.escape(BEGIN) + r"\n(.*?)\n?" + re.escape(END), re.S)


def current(text: str) -> str | None:
    """The block a document holds now (None: no markers)."""
    found = _BLOCK.search(text)
    return None if found is None else found.group(1)


def rewrite(text: str, document: str) -> str:
    if current(text) is None:
        raise ValueError(f"{document}: no status markers ({BEGIN} … {END})")
    return _BLOCK.sub(lambda _m: f"{BEGIN}\n{markdown(document)}\n{END}", text, count=1)


def _parser():
    from dakoku.clihelp import parser

    p = parser("dakoku status", "Print what is built (the one list in tools/dakoku/status.py).")
    p.add_argument("--write", action="store_true",
                   help="rewrite the status blocks of README.md and docs/ARCHITECTURE.md from "
                   "the list")  # fmt: skip
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a document's block differs from the list (default: off)",
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    for line in lines_plain():
        print(line)
    stale = []
    for document in DOCUMENTS:
        path = ROOT / document
        text = path.read_text("utf-8")
        try:
            new = rewrite(text, document)
        except ValueError as e:
            sys.stderr.write(f"dakoku status: {e}\n")
            return 1
        if new != text:
            if args.write:
                path.write_text(new, "utf-8")
                print(f"{document}: status block rewritten")
            else:
                stale.append(document)
    if stale and args.check:
        sys.stderr.write(f"dakoku status: out of date: {', '.join(stale)}; run dakoku status "
                         "--write\n")  # fmt: skip
        return 1
    return 0
