"""A program's side of a board's service console (CPython): tests, benchmarks and tools.

``Console(path)`` opens the console's serial device with pyserial — a virtual board's pty, or a
real board's ``/dev/ttyUSB0`` — and ``command(line)`` sends one line and returns its reply: the
text lines and the final ``ok``/``ok: …``/``error: …`` line (docs/HARDWARE.md, "Service
console"). ``wait_screen(predicate)`` asks ``screen`` until the display shows what the caller
waits for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import serial

FINAL_PREFIXES = ("ok", "error:")


class ConsoleError(Exception):
    """No reply, or a reply without its final line, within the time given."""


def is_final(line: str) -> bool:
    return line == "ok" or line.startswith(("ok:", "error:"))


class Console:
    def __init__(self, path: str, baudrate: int = 115200):
        self.path = path
        self.port = serial.Serial(path, baudrate, timeout=0.05)
        self._buf = b""
        self.heard: list[str] = []  # every line read, in order (the banner too)

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def readline(self, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                return None
            self._buf += self.port.read(256)
        line, _, self._buf = self._buf.partition(b"\n")
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        self.heard.append(text)
        return text

    def drain(self, quiet_s: float = 0.2) -> list[str]:
        """Whatever the board said unasked (a banner), until it is quiet."""
        lines = []
        while (line := self.readline(quiet_s)) is not None:
            lines.append(line)
        return lines

    def command(self, line: str | bytes, timeout_s: float = 10.0) -> tuple[list[str], str]:
        """(text lines, final line) of one command."""
        data = line if isinstance(line, bytes) else line.encode()
        self.write(data + b"\r\n")
        return self.reply(timeout_s)

    def reply(self, timeout_s: float = 10.0) -> tuple[list[str], str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        while True:
            got = self.readline(max(0.0, deadline - time.monotonic()))
            if got is None:
                raise ConsoleError(f"{self.path}: no final line within {timeout_s:g} s "
                                   f"(got {lines!r})")  # fmt: skip
            if is_final(got):
                return lines, got
            lines.append(got)

    def ok(self, line: str, timeout_s: float = 10.0) -> list[str]:
        """The text lines of a command that must succeed."""
        lines, final = self.command(line, timeout_s)
        if not final.startswith("ok"):
            raise ConsoleError(f"{line!r}: {final}")
        return lines

    def screen(self) -> list[str]:
        return self.ok("screen")

    def wait_screen(self, predicate: Callable[[list[str]], bool], timeout_s: float = 20.0,
                    every_s: float = 0.05) -> list[str]:  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            shown = self.screen()
            if predicate(shown):
                return shown
            if time.monotonic() > deadline:
                raise ConsoleError(f"the screen never showed what was awaited: {shown!r}")
            time.sleep(every_s)
