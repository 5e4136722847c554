"""The simulated RC-S380 reached as USB (CPython): for nfcpy, and for pyusb code.

``NfcpyTransport(chip)`` is the transport nfcpy's ``rcs380`` driver accepts
(``nfc.clf.rcs380.init(transport)``): ``TYPE = "USB"``, ``read(timeout)`` returns the chip's
next packet or raises ``IOError(ETIMEDOUT)``, ``write(frame, timeout)``, the names, ``close()``.

``FakeUsbDevice(chip)`` stands in for a ``usb.core.Device`` as ``dakoku.pasori`` uses it: one
configuration, interface 0 with a bulk OUT (0x02) and a bulk IN (0x81) endpoint, 64-byte
packets; ``read`` raises ``usb.core.USBTimeoutError`` when nothing is there. A zero-length
packet after a write of a multiple of 64 is counted in ``zlps``.
"""

from __future__ import annotations

import errno
import os


class NfcpyTransport:
    TYPE = "USB"
    manufacturer_name = "SONY"
    product_name = "RC-S380/P"

    def __init__(self, chip):
        self.chip = chip
        self.queue: list[bytes] = []
        self.written: list[bytes] = []

    def read(self, timeout=0):
        if not self.queue:
            raise OSError(errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT))
        return bytearray(self.queue.pop(0))

    def write(self, frame, timeout=0):
        self.written.append(bytes(frame))
        for _delay, out in self.chip.receive(bytes(frame)):
            self.queue.append(bytes(out))

    def close(self):
        self.queue = []


class _Endpoint:
    wMaxPacketSize = 64

    def __init__(self, address, attributes=0x02):
        self.bEndpointAddress = address
        self.bmAttributes = attributes


class FakeUsbDevice:
    idVendor = 0x054C

    def __init__(self, chip, product=0x06C3):
        self.chip = chip
        self.idProduct = product
        self.manufacturer = "SONY"
        self.product = "RC-S380/P"
        self.queue: list[bytes] = []
        self.zlps = 0
        self.configured = False
        self.kernel_driver = False
        self.claimed = False
        self.endpoints = (_Endpoint(0x02), _Endpoint(0x81))

    def get_active_configuration(self):
        return {(0, 0): list(self.endpoints)}

    # the calls dakoku.pasori makes
    def is_kernel_driver_active(self, interface):
        return self.kernel_driver

    def detach_kernel_driver(self, interface):
        self.kernel_driver = False

    fail_with: Exception | None = None  # raised by set_configuration (permission, busy)

    def set_configuration(self):
        if self.fail_with is not None:
            raise self.fail_with
        self.configured = True

    def write(self, endpoint, data, timeout=None):
        data = bytes(data)
        if not data:
            self.zlps += 1
            return 0
        for _delay, out in self.chip.receive(data):
            self.queue.append(bytes(out))
        return len(data)

    def read(self, endpoint, size, timeout=None):
        import usb.core

        if not self.queue:
            raise usb.core.USBTimeoutError("timed out", -7, errno.ETIMEDOUT)
        packet = self.queue.pop(0)
        return bytearray(packet[:size])
