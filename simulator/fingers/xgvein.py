"""A simulated XG-family finger-vein module, 24-byte packets both ways (MicroPython-compatible).

``receive(data)`` returns ``[(delay_ms, bytes)]`` like the other simulated modules (each delay
counted from the command, as ``simulator.readers.line.SerialLine`` takes them). The finger
is looked at when a command arrives (a Verify with no finger answers 20 "place the finger", then
0B after the finger time-out); ``place(finger, quality)`` with ``quality`` "good" or "flat_off"
(the veins are not seen: status 11), ``lift()``. ``library`` maps IDs (1…) to fingers.

Commands: 01 Connect (password), 10 FingerStatus (data[1] 1 when a finger is there), 11
ClearEnroll, 16 Enroll (prompts 20/21 three times, then 00), 17 Verify (ID 0 = 1:N: 00 with the
ID in data[1..4], or 0C), 19 Cancel; a bad checksum from the host is answered with status 03,
any other command with 01. Faults: ``silent``, ``bad_sum`` (spoil the next n answers),
``unknown_status`` (the next final status). Times [uncertain: no datasheet figure found]:
Verify 400 ms, one enrol image 600 ms.
"""

from hardware import xgvein

VERIFY_MS = 400
ENROL_IMAGE_MS = 600
PLAIN_MS = 5


class XGVein:
    name = "XG vein"
    baud = 57600

    def __init__(self, password=xgvein.PASSWORD, address=0, finger_timeout_ms=6000):
        self.password = bytes(password)
        self.address = address
        self.finger_timeout_ms = finger_timeout_ms
        self.library = {}
        self.finger = None
        self.quality = "good"
        self.commands = []
        self.silent = False
        self.bad_sum = 0
        self.unknown_status = None
        self.delay_scale = 1
        self.decoder = xgvein.Decoder()

    def place(self, finger, quality="good"):
        self.finger = finger
        self.quality = quality

    def lift(self):
        self.finger = None

    def enrol(self, template_id, finger):
        self.library[template_id] = finger

    def receive(self, data):
        out = []
        for b in data:
            r = self.decoder.push(b)
            if r == 0:
                continue
            p = bytes(self.decoder.packet)
            if self.silent or p[2] != self.address:
                continue
            if r == 2:
                out.append((PLAIN_MS, self._answer(p[3], xgvein.BAD_CHECKSUM)))
                continue
            self.commands.append(p[3])
            for delay, answer in self._command(p[3], p[6 : 6 + p[5]]):
                out.append((int(delay * self.delay_scale), answer))
        return out

    def _answer(self, cmd, status, ident=0, final=True):
        if final and self.unknown_status is not None:
            status = self.unknown_status
            self.unknown_status = None
        data = bytes((status,)) + xgvein.id_bytes(ident)
        packet = bytearray(xgvein.encode(cmd, data, self.address))
        if self.bad_sum:
            self.bad_sum -= 1
            packet[22] ^= 0x01
        return bytes(packet)

    def _command(self, cmd, data):
        ident = 0
        if len(data) >= 4:
            ident = data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)
        if cmd == xgvein.CONNECT:
            ok = bytes(data[:8]) == self.password
            return [(PLAIN_MS, self._answer(cmd, xgvein.OK if ok else 0x04))]
        if cmd == xgvein.FINGER_STATUS:
            return [(PLAIN_MS, self._answer(cmd, xgvein.OK, 1 if self.finger else 0))]
        if cmd == xgvein.CANCEL:
            return [(PLAIN_MS, self._answer(cmd, xgvein.OK))]
        if cmd == xgvein.CLEAR_ENROLL:
            if ident not in self.library:
                return [(PLAIN_MS, self._answer(cmd, 0x07))]
            del self.library[ident]
            return [(PLAIN_MS, self._answer(cmd, xgvein.OK))]
        if cmd == xgvein.VERIFY:
            if self.finger is None:
                return [
                    (PLAIN_MS, self._answer(cmd, xgvein.PLACE_FINGER, 0, False)),
                    (self.finger_timeout_ms, self._answer(cmd, xgvein.TIME_OUT)),
                ]
            if self.quality != "good":
                return [(VERIFY_MS, self._answer(cmd, xgvein.NO_VEIN))]
            if ident:
                same = self.library.get(ident) == self.finger
                found = ident if same else 0
            else:
                found = 0
                for k in sorted(self.library):
                    if self.library[k] == self.finger:
                        found = k
                        break
            if found:
                return [(VERIFY_MS, self._answer(cmd, xgvein.OK, found))]
            return [(VERIFY_MS, self._answer(cmd, xgvein.VERIFY_FAILED))]
        if cmd == xgvein.ENROLL:
            if ident == 0:
                return [(PLAIN_MS, self._answer(cmd, 0x06))]
            if self.finger is None:
                return [
                    (PLAIN_MS, self._answer(cmd, xgvein.PLACE_FINGER, 0, False)),
                    (self.finger_timeout_ms, self._answer(cmd, xgvein.TIME_OUT)),
                ]
            out = []
            at = 0
            for k in range(3):  # the person lifts and places the finger as asked
                at += ENROL_IMAGE_MS
                out.append((at, self._answer(cmd, xgvein.LIFT_FINGER, 0, False)))
                if k < 2:
                    at += 300
                    out.append((at, self._answer(cmd, xgvein.PLACE_FINGER, 0, False)))
            self.library[ident] = self.finger
            out.append((at + PLAIN_MS, self._answer(cmd, xgvein.OK, ident)))
            return out
        return [(PLAIN_MS, self._answer(cmd, xgvein.FAIL))]
