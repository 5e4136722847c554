"""A simulated chip on a pseudo-terminal (CPython): any serial program can talk to it.

``PtyChip(chip)`` opens a pty, serves the chip from a thread and gives the slave's path in
``path`` (``/dev/pts/N``). Bytes the host writes reach ``chip.receive``; the answers are
written back after the chip's delays. With ``check_baud`` the host's baud rate is read from the
slave's termios settings, and when it differs from the chip's ``baud`` the bytes are garbled
both ways, as on a real line (off by default: a host that changes speed and writes at once
races the thread that reads the setting, so the check is for a host that is set wrong on
purpose). ``faults(data) -> data`` may change what the chip sends.

nfcpy's ``tty:NAME`` paths only look in ``/dev`` itself; give nfcpy the path directly:
``nfc.clf.pn532.init(nfc.clf.transport.TTY(pty.path))``.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable

from simulator.readers.line import _garble

_SPEEDS = {
    getattr(termios, f"B{b}"): b
    for b in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
    if hasattr(termios, f"B{b}")
}


class PtyChip:
    def __init__(
        self, chip, faults: Callable[[bytes], bytes] | None = None, check_baud: bool = False
    ):
        self.chip = chip
        self.check_baud = check_baud
        self.faults = faults
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.received = bytearray()  # everything the host wrote (tests look at it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-" + chip.name, daemon=True)
        self._thread.start()

    def _mismatch(self) -> bool:
        return self.check_baud and self.host_baud() != getattr(self.chip, "baud", 115200)

    def host_baud(self) -> int:
        try:
            speed = termios.tcgetattr(self.slave)[5]  # ospeed
        except termios.error:
            return 115200
        return _SPEEDS.get(speed, 115200)

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if self._mismatch():
                data = _garble(data)
            self.received += data
            for delay_ms, out in self.chip.receive(data):
                if delay_ms:
                    time.sleep(delay_ms / 1000)
                out = bytes(out)
                if self.faults is not None:
                    out = self.faults(out)
                if self._mismatch():
                    out = _garble(out)
                try:
                    os.write(self.master, out)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyChip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
