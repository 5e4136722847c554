"""A simulated PN53x-family chip answering host frames byte for byte (MicroPython-compatible).

``receive(data)`` takes what the host wrote and returns what the chip sends back, as a list of
``(delay_ms, bytes)`` (an ACK at once, the response after the chip's documented response
time). The chip decodes host frames with the same framing rules as the datasheet (bytes that
are not a frame are ignored; a frame with a bad checksum gets no ACK, as on the PN532), ACKs a
good command, and answers:

- 00 Diagnose (the line test echoes its data: with the test byte on a PN532, without it on the
  RC-S956 family), 02 GetFirmwareVersion, 06 ReadRegister, 08 WriteRegister, 12 SetParameters,
  16 PowerDown, 32 RFConfiguration (01 field on/off, 05 retries, others kept), 4A
  InListPassiveTarget (FeliCa at 212/424 kbps, answered by the cards in ``field``), 52 InRelease;
- an unknown command or a frame that is not ``D4`` gets the syntax-error frame;
- an ACK from the host cancels a command still running (a poll with infinite retries and no
  card never answers on its own); a NACK from the host repeats the last response.

``power_cycle()`` is a chip reset mid-session: the configuration goes back to power-on values
(MaxRetries FF: a poll with no card waits for ever). Subclasses: ``simulator.readers.pn532``,
``simulator.readers.rcs620s``.
"""

from hardware import pn53x

CMD_NAMES = {
    0x00: "Diagnose",
    0x02: "GetFirmwareVersion",
    0x06: "ReadRegister",
    0x08: "WriteRegister",
    0x10: "SetSerialBaudrate",
    0x12: "SetParameters",
    0x14: "SAMConfiguration",
    0x16: "PowerDown",
    0x18: "ResetMode",
    0x32: "RFConfiguration",
    0x4A: "InListPassiveTarget",
    0x42: "InCommunicateThru",
    0x52: "InRelease",
}

REG_CIU_TX_CONTROL = 0x6304  # nfcpy reads it before sensing: bits 0-1 set = field on


class Pn53xChip:
    name = "PN53x"
    firmware = b"\x32\x01\x06\x07"  # IC, version, revision, support
    max_targets = 2
    diagnose_echoes_test_byte = True
    ack_ms = 1
    response_ms = 2  # a plain command
    poll_ms = 5  # a FeliCa poll: one time slot on air plus the chip's work [computed]

    def __init__(self, field=None):
        from simulator.readers.field import Field

        self.field = field if field is not None else Field()
        self.decoder = pn53x.Decoder(300)
        self.commands = []  # command codes received, in order (tests look at them)
        self.power_cycles = 0
        self.power_cycle()
        self.power_cycles = 0

    def power_cycle(self):
        self.power_cycles += 1
        self.retries = 0xFF  # MxRtyPassiveActivation: FF = for ever
        self.rf_on = False
        self.registers = {}
        self.config = {}
        self.waiting = 0  # a command waiting for a card (infinite retries), or 0
        self.last = b""  # the last response frame (repeated on a NACK)
        self.decoder.reset()

    # -------------------------------------------------------------------- the wire

    def receive(self, data):
        out = []  # type: list
        for b in data:
            self._byte(b, out)
        return out

    def _byte(self, b, out):
        r = self.decoder.push(b)
        if r == pn53x.FRAME:
            self._frame(out)
        elif r == pn53x.ACK:
            self.waiting = 0
            self.host_ack()
        elif r == pn53x.NACK:
            if self.last:
                out.append((self.response_ms, self.last))
        # a bad frame gets no answer: the host times out waiting for the ACK

    def host_ack(self):
        """The host sent an ACK (cancel, or the end of a baud-rate change)."""

    def _frame(self, out):
        d = self.decoder
        body = bytes(d.body[0 : d.length])
        if body[0] != pn53x.TFI_HOST or len(body) < 2:
            out.append((self.response_ms, pn53x.ERROR_FRAME))
            return
        code = body[1]
        self.commands.append(code)
        out.append((self.ack_ms, pn53x.ACK_FRAME))
        self.waiting = 0
        answer = self.command(code, body[2:])
        if answer is None:  # still working (a poll waiting for a card)
            self.waiting = code
            return
        if answer is False:
            frame = pn53x.ERROR_FRAME
        else:
            frame = bytes(pn53x.encode(bytes((pn53x.TFI_CHIP, code + 1)) + answer))
        self.last = frame
        out.append((self.poll_ms if code == 0x4A else self.response_ms, frame))

    # -------------------------------------------------------------------- commands

    def command(self, code, data):
        """Response data (after the response code), None while still working, False for the
        syntax-error frame."""
        if code == 0x00:
            return self.diagnose(data)
        if code == 0x02:
            return self.firmware
        if code == 0x06:
            return self.read_registers(data)
        if code == 0x08:
            return self.write_registers(data)
        if code == 0x12:
            return b""
        if code == 0x16:
            return b"\x00"
        if code == 0x32 and data:
            return self.rf_configuration(data[0], data[1:])
        if code == 0x4A and len(data) >= 2:
            return self.in_list_passive_target(data[0], data[1], data[2:])
        if code == 0x52:
            return b"\x00"
        return False

    def diagnose(self, data):
        if data and data[0] == 0x00:  # communication line test
            return data if self.diagnose_echoes_test_byte else data[1:]
        return b"\x00"

    def read_registers(self, data):
        out = bytearray()
        for i in range(0, len(data) - 1, 2):
            reg = data[i] << 8 | data[i + 1]
            if reg == REG_CIU_TX_CONTROL:
                out.append(0x83 if self.rf_on else 0x80)
            else:
                out.append(self.registers.get(reg, 0))
        return bytes(out)

    def write_registers(self, data):
        n = 0
        for i in range(0, len(data) - 2, 3):
            self.registers[data[i] << 8 | data[i + 1]] = data[i + 2]
            n += 1
        return bytes(n)

    def rf_configuration(self, item, data):
        if item == 0x01:
            self.rf_on = bool(data and data[0] & 1)
        elif item == 0x05 and len(data) >= 3:
            self.retries = data[2]
        self.config[item] = bytes(data)
        return b""

    def in_list_passive_target(self, max_tg, brty, initiator):
        if max_tg < 1 or max_tg > self.max_targets or brty not in (1, 2) or len(initiator) < 5:
            return False if max_tg > self.max_targets else b"\x00"
        if initiator[0] != 0x00:
            return b"\x00"
        self.rf_on = True
        rate = 212 if brty == 1 else 424
        system_code = initiator[1] << 8 | initiator[2]
        answers = self.field.poll(system_code, initiator[3], rate, max_tg)
        if not answers:
            return None if self.retries == 0xFF else b"\x00"
        out = bytearray((len(answers),))
        for i in range(len(answers)):
            a = answers[i]
            out.append(i + 1)
            out.append(len(a) + 1)
            out.extend(a)
        return bytes(out)
