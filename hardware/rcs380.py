"""Sony RC-S380 (PaSoRi, "NFC Port-100") for FeliCa polling: the same programs-as-data as the
PN53x drivers, so ``hardware.reader.Reader`` runs it unchanged.

Frames are always extended with a little-endian length: ``00 00 FF FF FF LENlo LENhi LCS D6
cmd data DCS 00``; answers come as ``D7 cmd+1``. Build the link with
``Link(transport, pn53x.Decoder(little_endian=True), TFI_CHIP)``; on a PC the transport is
pyusb (``dakoku.pasori``), in tests the simulator's.

Init (nfcpy's): an ACK, SetCommandType ``2A 01`` (→ ``00``), GetFirmwareVersion ``20`` (→ minor,
major), GetPDDataVersion ``22``, SwitchRF off ``06 00``. A poll: InSetRF ``00 01 01 0F 01``
(212F; ``01 02 0F 02`` for 424F), InSetProtocol with nfcpy's defaults, then ``00 18``
(initial guard time), InCommRF ``04 <timeout 0.1 ms LE> <len> 00 SChi SClo RC TSN`` → ``D7 05
<status u32 LE> <1 byte> <len 01 IDm PMm [RD]>``; status ``80 00 00 00`` is "no card". After
each poll cycle, SwitchRF off.
"""

from micropython import const

from hardware import chip, felica, pn53x

TFI_HOST = const(0xD6)
TFI_CHIP = const(0xD7)
VENDOR_SONY = const(0x054C)
PRODUCTS = (0x06C1, 0x06C3)  # RC-S380/S, RC-S380/P

CMD_IN_SET_RF = const(0x00)
CMD_IN_SET_PROTOCOL = const(0x02)
CMD_IN_COMM_RF = const(0x04)
CMD_SWITCH_RF = const(0x06)
CMD_GET_FIRMWARE_VERSION = const(0x20)
CMD_GET_PD_DATA_VERSION = const(0x22)
CMD_SET_COMMAND_TYPE = const(0x2A)

PROTOCOL_DEFAULTS = bytes.fromhex(
    "0018 0101 0201 0300 0400 0500 0600 0708 0800 0900 0A00 0B00 0C00 0E04 0F00 1000 1100 1200 1306"
)
NAMES = {
    0x00: "InSetRF",
    0x02: "InSetProtocol",
    0x04: "InCommRF",
    0x06: "SwitchRF",
    0x20: "GetFirmwareVersion",
    0x22: "GetPDDataVersion",
    0x2A: "SetCommandType",
}


def frame(code, data=b""):
    return pn53x.encode(bytes((TFI_HOST, code)) + bytes(data), True, True)


def step(code, data=b"", kind=chip.STATUS, timeout_ms=100, hold_ms=0):
    return (frame(code, data), code, timeout_ms, kind, hold_ms)


class RCS380:
    name = "RC-S380"

    def __init__(self, system_code=felica.SYSTEM_CODE_ANY, rate_kbps=212):
        if rate_kbps not in (212, 424):
            raise ValueError("FeliCa polls at 212 or 424 kbps, not %r" % rate_kbps)
        r = 1 if rate_kbps == 212 else 2
        self.init = (
            chip.raw(pn53x.ACK_FRAME, 2),
            step(CMD_SET_COMMAND_TYPE, b"\x01"),
            step(CMD_GET_FIRMWARE_VERSION, kind=chip.VERSION),
            step(CMD_GET_PD_DATA_VERSION, kind=chip.CHECK),
            step(CMD_SWITCH_RF, b"\x00"),
        )
        polling = bytes((6, 0x00, (system_code >> 8) & 0xFF, system_code & 0xFF, 0, 0))
        self.poll = (
            step(CMD_IN_SET_RF, bytes((1, r, 15, r))),
            step(CMD_IN_SET_PROTOCOL, PROTOCOL_DEFAULTS),
            step(CMD_IN_SET_PROTOCOL, b"\x00\x18"),
            step(CMD_IN_COMM_RF, b"\x6e\x00" + polling, chip.POLL, 100),  # 11 ms on air
        )
        self.after_poll = (step(CMD_SWITCH_RF, b"\x00"),)
        self.rate_kbps = rate_kbps

    def version(self, body, n):
        if n < 4:
            return None
        return "%s v%x.%02x" % (self.name, body[3], body[2])

    def parse_poll(self, body, n, idm, pmm):
        """``D7 05 status[4] x len 01 IDm PMm …``: 1 target, 0 (no card) or -1."""
        if n < 7:
            return -1
        if body[2] == 0x80 and body[3] == 0 and body[4] == 0 and body[5] == 0:
            return 0  # RECEIVE_TIMEOUT: nobody answered
        if body[2] or body[3] or body[4] or body[5]:
            return -1  # CRC, collision, protocol error: a broken read
        size = body[7] if n > 7 else 0
        if size < 18 or 7 + size != n or body[8] != felica.POLLING_RESPONSE:
            return -1
        for i in range(8):
            idm[i] = body[9 + i]
            pmm[i] = body[17 + i]
        return 1

    def command_name(self, code):
        return NAMES.get(code, "command %02X" % code)
