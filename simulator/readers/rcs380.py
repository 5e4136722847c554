"""A simulated Sony RC-S380 (MicroPython-compatible): NFC Port-100 frames over USB bulk.

``receive(frame)`` takes one host packet and returns the packets the chip sends back: an ACK
for every good command, then ``D7 cmd+1 …`` in an extended little-endian frame. Commands:
2A SetCommandType, 20 GetFirmwareVersion (``11 01``: v1.11), 22 GetPDDataVersion, 06 SwitchRF,
00 InSetRF (the bit rate), 02 InSetProtocol, 04 InCommRF (a FeliCa Polling is answered by the
cards in ``field``; status ``80 00 00 00`` when none does), 12 ResetDevice. Anything else gets
status 01 (PARAMETER_ERROR) — nfcpy does not send it. ``power_cycle()`` forgets the command
type (commands other than SetCommandType and GetFirmwareVersion then answer COMMANDTYPE_ERROR,
status 07, as the device does before its host chose the command set).
"""

from hardware import pn53x

TFI_HOST = 0xD6
TFI_CHIP = 0xD7
NO_CARD = b"\x80\x00\x00\x00"


class RCS380Chip:
    name = "RC-S380"
    firmware = b"\x11\x01"  # minor, major

    def __init__(self, field=None):
        from simulator.readers.field import Field

        self.field = field if field is not None else Field()
        self.decoder = pn53x.Decoder(300, little_endian=True)
        self.commands = []
        self.power_cycles = 0
        self.power_cycle()
        self.power_cycles = 0

    def power_cycle(self):
        self.power_cycles += 1
        self.command_type = 0
        self.rf_on = False
        self.rate = 212
        self.last = b""
        self.decoder.reset()

    def receive(self, data):
        out = []  # type: list
        for b in bytes(data):
            r = self.decoder.push(b)
            if r == pn53x.FRAME:
                self._frame(out)
            elif r == pn53x.NACK and self.last:
                out.append((1, self.last))
        return out

    def _frame(self, out):
        d = self.decoder
        body = bytes(d.body[0 : d.length])
        if len(body) < 2 or body[0] != TFI_HOST:
            return  # not for this chip: ignored
        code = body[1]
        self.commands.append(code)
        out.append((0, pn53x.ACK_FRAME))
        answer = self.command(code, body[2:])
        frame = bytes(pn53x.encode(bytes((TFI_CHIP, code + 1)) + answer, True, True))
        self.last = frame
        out.append((12 if code == 0x04 else 1, frame))

    def command(self, code, data):
        if code == 0x2A:
            self.command_type = data[0] if data else 0
            return b"\x00"
        if code == 0x20:
            return self.firmware
        if self.command_type != 1:
            return b"\x07"  # COMMANDTYPE_ERROR
        if code == 0x22:
            return b"\x00\x01"
        if code == 0x06:
            self.rf_on = bool(data and data[0])
            return b"\x00"
        if code == 0x00:
            if len(data) < 4 or data[1] not in (1, 2):
                return b"\x01"
            self.rate = 212 if data[1] == 1 else 424
            self.rf_on = True
            return b"\x00"
        if code == 0x02:
            return b"\x00"
        if code == 0x12:
            self.command_type = 0
            return b""
        if code == 0x04:
            return self.in_comm_rf(data[2:])
        return b"\x01"

    def in_comm_rf(self, frame):
        if not self.rf_on or len(frame) < 6 or frame[0] != len(frame) or frame[1] != 0x00:
            return NO_CARD + b"\x00"
        system_code = frame[2] << 8 | frame[3]
        answers = self.field.poll(system_code, frame[4], self.rate, 1)
        if not answers:
            return NO_CARD + b"\x00"
        a = answers[0]
        return b"\x00\x00\x00\x00\x00" + bytes((len(a) + 1,)) + a


class SimUsbTransport:
    """The driver's transport (``send``/``readinto``/``flush``) straight to the simulated
    RC-S380, packet by packet, under virtual time ``now`` (MicroPython-compatible; on a PC the
    same driver runs over ``dakoku.pasori.UsbTransport``)."""

    def __init__(self, chip):
        self.chip = chip
        self.now = 0
        self.written = 0
        self.sent = 0
        self.unplugged = False
        self._packets = []  # [ready_ms, bytes]
        self._rest = b""

    def send(self, frame):
        if self.unplugged:
            raise OSError(19)  # ENODEV
        frame = bytes(frame)
        self.written += len(frame)
        for delay, out in self.chip.receive(frame):
            self._packets.append([self.now + delay, bytes(out)])

    def readinto(self, buf, expect_ack):
        if self.unplugged:
            raise OSError(19)
        if not self._rest:
            if not self._packets or self._packets[0][0] > self.now:
                return 0
            self._rest = self._packets.pop(0)[1]
            self.sent += len(self._rest)
        n = min(len(buf), len(self._rest))
        for i in range(n):
            buf[i] = self._rest[i]
        self._rest = self._rest[n:]
        return n

    def flush(self, buf):
        self._rest = b""
        while self._packets and self._packets[0][0] <= self.now:
            self._packets.pop(0)
