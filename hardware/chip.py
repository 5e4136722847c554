"""What a PN53x-family chip driver gives the reader: command programs as data.

A program is a tuple of steps; a step is ``(frame, code, timeout_ms, kind, hold_ms)``: the
frame to write (built once, at start), its command code, how long the response may take after
the ACK, what the reader does with the answer, and how long to wait before the next step.
Kinds: ``RAW`` (bytes with no answer: a wake-up preamble), ``CHECK`` (the right response code
is enough), ``STATUS`` (the first data byte must be 00), ``VERSION`` (GetFirmwareVersion),
``RESET`` (the reset command's answer, then an ACK from the host), ``POLL`` (a FeliCa poll).

A chip object has ``name``, the programs ``init`` (also the recovery after faults), ``poll``
and ``after_poll`` (run once a poll cycle ends: RF off on the RC-S620S), ``version(body, n)``
(the GetFirmwareVersion answer as text, or None when it names another chip) and
``parse_poll(body, n, idm, pmm)`` (targets found, -1 for a malformed answer). ``Pn53xDriver``
gives the last two for the PN53x family (``ic``: the IC byte the answer must name).
"""

from micropython import const

from hardware import felica, pn53x

RAW = const(0)
CHECK = const(1)
STATUS = const(2)
VERSION = const(3)
RESET = const(4)
POLL = const(5)

CMD_GET_FIRMWARE_VERSION = const(0x02)
CMD_SET_SERIAL_BAUDRATE = const(0x10)
CMD_SAM_CONFIGURATION = const(0x14)
CMD_RESET_MODE = const(0x18)
CMD_RF_CONFIGURATION = const(0x32)
CMD_IN_LIST_PASSIVE_TARGET = const(0x4A)
CMD_IN_RELEASE = const(0x52)

COMMAND_NAMES = {
    0x02: "GetFirmwareVersion",
    0x10: "SetSerialBaudrate",
    0x14: "SAMConfiguration",
    0x18: "ResetMode",
    0x32: "RFConfiguration",
    0x4A: "InListPassiveTarget",
    0x52: "InRelease",
}


def step(code, data=b"", kind=CHECK, timeout_ms=100, hold_ms=0):
    return (pn53x.command(code, data), code, timeout_ms, kind, hold_ms)


def raw(data, hold_ms=0):
    return (bytes(data), 0, 0, RAW, hold_ms)


def command_name(code):
    return COMMAND_NAMES.get(code, "command %02X" % code)


class Pn53xDriver:
    name = "PN53x"
    ic = 0

    def version(self, body, n):
        """``D5 03 IC Ver Rev Support``: the chip's name and version, or None."""
        if n < 6 or body[2] != self.ic:
            return None
        return "%s v%x.%x" % (self.name, body[3], body[4])

    def parse_poll(self, body, n, idm, pmm):
        return felica.parse_targets(body, n, idm, pmm)

    def command_name(self, code):
        return command_name(code)
