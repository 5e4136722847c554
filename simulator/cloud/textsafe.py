"""Text that came from outside, made safe to show: on a terminal, in a log line, in a CSV cell.

A terminal reports strings (a command result's ``detail``, its firmware and board names, its
request headers) and an administrator types or imports others (names, labels). None of them may
move the cursor, end a line, recolour a screen or run as a spreadsheet formula where the receiver
prints or exports them:

- :func:`printable` escapes every control character (C0, DEL, C1 — ESC and CSI among them),
  the Unicode line and paragraph separators, and the format characters that reorder text
  (bidirectional overrides, zero-width marks), as ``\\xNN`` / ``\\uNNNN``; a backslash becomes
  ``\\\\``, so an escape cannot be forged either. Everything else (Japanese, accents) stays.
- :func:`csv_cell` is for a cell of an exported CSV: :func:`printable` plus the OWASP advice on
  CSV injection: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
  gets a leading single quote, so a spreadsheet shows it as text and runs nothing.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape(ch: str) -> str:
    n = ord(ch)
    return "\\x%02x" % n if n < 0x100 else "\\u%04x" % n


def printable(text: str) -> str:
    """``text`` with every character that could act on a terminal or a line escaped."""
    if text.isprintable() and "\\" not in text:
        return text  # the common case, at C speed
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():  # False for Cc, Cf, Zl, Zp, … (all but the space of "Other"/"Z")
            out.append(ch)
        else:
            out.append(_escape(ch))
    return "".join(out)


def csv_cell(value: object) -> object:
    """A value ready for ``csv.writer``: numbers as they are, text escaped and neutralised."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        return "'" + printable(value)
    return printable(value)
