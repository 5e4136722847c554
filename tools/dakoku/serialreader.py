"""A PN532 or RC-S620S on a PC's serial port (a USB-serial adapter, or a simulated chip on a
pty), through pyserial: the terminal's own driver, unchanged.

``PyserialUart`` gives a ``serial.Serial`` the UART interface the driver's ``UartTransport``
takes (``write``, ``readinto`` without waiting, ``any``). ``open_serial_reader(path, chip)``
returns a self-tested ``hardware.reader.Reader``, or raises ``OSError`` with what failed.
"""

from __future__ import annotations

import time

from hardware.link import Link, UartTransport
from hardware.pn532 import PN532
from hardware.rcs620s import RCS620S
from hardware.reader import Reader

DRIVERS = {"pn532": PN532, "rcs620s": RCS620S}


class PyserialUart:
    def __init__(self, port):
        self.port = port  # a serial.Serial opened with timeout=0

    def write(self, data) -> int:
        return self.port.write(bytes(data))

    def any(self) -> int:
        return self.port.in_waiting

    def readinto(self, buf) -> int | None:
        data = self.port.read(min(len(buf), self.port.in_waiting))
        buf[: len(data)] = data
        return len(data) or None


def open_serial_reader(path: str, chip: str = "pn532", baud: int = 115200) -> Reader:
    import serial

    try:
        port = serial.Serial(path, baud, timeout=0)
    except serial.SerialException as e:
        raise OSError(f"cannot open {path}: {e}") from e
    reader = Reader(DRIVERS[chip](), Link(UartTransport(PyserialUart(port))))
    start = time.monotonic()

    def ticks() -> int:
        return int((time.monotonic() - start) * 1000)

    problem = reader.selftest(ticks, lambda ms: time.sleep(ms / 1000))
    if problem is not None:
        port.close()
        raise OSError(f"the reader on {path} did not answer its self-test: {problem}")
    return reader
