"""The XG-family finger-vein module (MicroPython): 24-byte packets, Connect, Verify 1:N, Enroll.

Every packet, both ways, is 24 bytes: ``BB AA | addr | cmd | encode (0) | datalen | data[16] |
SUM16 LE``, the sum over bytes 0..21. Commands: 01 Connect (data: the password, 8 ASCII
characters), 10 FingerStatus, 11 ClearEnroll (ID), 16 Enroll (ID u32 LE, group, 3 templates),
17 Verify (ID u32 LE; 0 = 1:N), 18 IdentifyFree, 19 Cancel. The answer echoes the command;
``data[0]`` is the status (00 ok, 01 fail, 03 checksum, 0B time-out, 0C verify failed, 11 no
vein), and a Verify or Enroll first answers 20 (place the finger) and 21 (lift it) while the
module waits. A successful Verify carries the ID in ``data[1..4]`` (LE). The module gives no
match score [the public protocol shows none].

``FingerVein(uart)`` is sans-IO like the R503 driver: ``selftest()`` connects;
``start_verify(now_ms)`` then ``step(now_ms)`` → ``None`` (under way) or the final
``(status, id)``; ``start_enrol(id, now_ms)`` likewise. A bad checksum in an answer is a
failure of the exchange (``error`` names it); so is no answer within the module's finger
time-out plus a second.
"""

from micropython import const

CONNECT = const(0x01)
FINGER_STATUS = const(0x10)
CLEAR_ENROLL = const(0x11)
ENROLL = const(0x16)
VERIFY = const(0x17)
IDENTIFY_FREE = const(0x18)
CANCEL = const(0x19)

COMMAND_NAMES = {
    CONNECT: "Connect",
    FINGER_STATUS: "FingerStatus",
    CLEAR_ENROLL: "ClearEnroll",
    ENROLL: "Enroll",
    VERIFY: "Verify",
    IDENTIFY_FREE: "IdentifyFree",
    CANCEL: "Cancel",
}

OK = const(0x00)
FAIL = const(0x01)
BAD_CHECKSUM = const(0x03)
TIME_OUT = const(0x0B)
VERIFY_FAILED = const(0x0C)
NO_VEIN = const(0x11)
PLACE_FINGER = const(0x20)
LIFT_FINGER = const(0x21)

STATUS_TEXTS = {
    OK: "ok",
    FAIL: "failed",
    0x02: "communication error",
    BAD_CHECKSUM: "checksum error",
    0x04: "wrong password",
    0x06: "bad ID",
    0x07: "empty ID",
    TIME_OUT: "time-out",
    VERIFY_FAILED: "verify failed",
    NO_VEIN: "no vein",
}

PACKET_SIZE = const(24)
PASSWORD = b"00000000"

# Exchange results
PENDING = const(0)
DONE = const(1)
FAILED = const(2)


def checksum(packet):
    s = 0
    for i in range(22):
        s += packet[i]
    return s & 0xFFFF


def encode(cmd, data=b"", address=0):
    p = bytearray(PACKET_SIZE)
    p[0] = 0xBB
    p[1] = 0xAA
    p[2] = address
    p[3] = cmd
    p[4] = 0
    p[5] = len(data)
    p[6 : 6 + len(data)] = data
    s = checksum(p)
    p[22] = s & 0xFF
    p[23] = s >> 8
    return bytes(p)


def id_bytes(template_id):
    return bytes(((template_id >> (8 * k)) & 0xFF for k in range(4)))


class Decoder:
    """Byte at a time: ``push(b)`` → 0 (nothing yet), 1 (a good packet in ``packet``),
    2 (a packet with a bad checksum). Bytes before ``BB AA`` are skipped."""

    def __init__(self):
        self.packet = bytearray(PACKET_SIZE)
        self.at = 0
        self.skipped = 0

    def reset(self):
        self.at = 0

    def push(self, b):
        at = self.at
        if at == 0:
            if b == 0xBB:
                self.packet[0] = b
                self.at = 1
            else:
                self.skipped += 1
            return 0
        if at == 1:
            if b == 0xAA:
                self.packet[1] = b
                self.at = 2
            elif b == 0xBB:
                self.skipped += 1  # BB BB AA: the first BB was noise
            else:
                self.skipped += 2
                self.at = 0
            return 0
        self.packet[at] = b
        self.at = at + 1
        if self.at < PACKET_SIZE:
            return 0
        self.at = 0
        p = self.packet
        if (p[22] | (p[23] << 8)) != checksum(p):
            return 2
        return 1


class FingerVein:
    name = "XG vein"

    def __init__(self, uart, address=0, finger_timeout_ms=6000, ticks_ms=None, wait_ms=None):
        self.uart = uart
        self.address = address
        self.finger_timeout_ms = finger_timeout_ms
        self.ticks_ms = ticks_ms
        self.wait_ms = wait_ms
        self.decoder = Decoder()
        self.error = ""  # what failed in the last exchange
        self.prompts = 0  # 20 / 21 packets seen, over the driver's life
        self._inbuf = bytearray(24)
        self._cmd = 0
        self._busy = False
        self._deadline = 0
        self._verify = encode(VERIFY, id_bytes(0) + bytes(6), address)  # built once

    # ------------------------------------------------------------------ exchanges

    def _start(self, frame, cmd, now_ms, timeout_ms):
        self._drain()
        self.error = ""
        self._cmd = cmd
        try:
            self.uart.write(frame)
        except OSError:
            self.error = "%s: %s: bus error" % (self.name, COMMAND_NAMES[cmd])
            self._busy = False
            return
        self._busy = True
        self._deadline = now_ms + timeout_ms

    def _drain(self):
        self.decoder.reset()
        try:
            while self.uart.any():
                if not self.uart.readinto(self._inbuf):
                    break
        except OSError:
            pass

    def busy(self):
        return self._busy

    def step(self, now_ms):
        """None while under way; then ``(status, id)``, or ``(-1, 0)`` with ``error`` set."""
        if not self._busy:
            return (-1, 0) if self.error else None
        d = self.decoder
        name = COMMAND_NAMES.get(self._cmd, "?")
        while True:
            try:
                n = self.uart.readinto(self._inbuf) if self.uart.any() else 0
            except OSError:
                return self._fail("%s: %s: bus error" % (self.name, name))
            if not n:
                break
            for i in range(n):
                r = d.push(self._inbuf[i])
                if r == 0:
                    continue
                if r == 2:
                    return self._fail("%s: %s: bad checksum" % (self.name, name))
                p = d.packet
                if p[3] != self._cmd:
                    return self._fail(
                        "%s: %s: answer to another command (%02X)" % (self.name, name, p[3])
                    )
                status = p[6]
                if status == PLACE_FINGER or status == LIFT_FINGER:
                    self.prompts += 1
                    self._deadline = now_ms + self.finger_timeout_ms + 1000
                    continue
                self._busy = False
                ident = p[7] | (p[8] << 8) | (p[9] << 16) | (p[10] << 24)
                return (status, ident)
        if now_ms >= self._deadline:
            return self._fail("%s: %s: no answer" % (self.name, name))
        return None

    def _fail(self, text):
        self.error = text
        self._busy = False
        self._drain()
        return (-1, 0)

    def cancel(self, now_ms):
        """Stop a Verify or Enroll the module is waiting in (Cancel; its answer is dropped)."""
        self._busy = False
        try:
            self.uart.write(encode(CANCEL, b"", self.address))
        except OSError:
            pass

    # ------------------------------------------------------------------ operations

    def start_connect(self, now_ms):
        self._start(encode(CONNECT, PASSWORD, self.address), CONNECT, now_ms, 1000)

    def start_verify(self, now_ms, template_id=0):
        frame = self._verify
        if template_id:
            frame = encode(VERIFY, id_bytes(template_id) + bytes(6), self.address)
        self._start(frame, VERIFY, now_ms, self.finger_timeout_ms + 1000)

    def start_enrol(self, template_id, now_ms):
        data = id_bytes(template_id) + b"\x00\x03"  # group 0, three templates
        self._start(encode(ENROLL, data, self.address), ENROLL, now_ms,
                    3 * self.finger_timeout_ms + 1000)  # fmt: skip

    def _run(self, frame, cmd, ticks_ms, wait_ms, limit_ms=1000):
        ticks_ms = ticks_ms or self.ticks_ms
        wait_ms = wait_ms or self.wait_ms
        now = ticks_ms()
        self._start(frame, cmd, now, limit_ms)
        while True:
            r = self.step(now)
            if r is not None:
                break
            wait_ms(1)
            now = ticks_ms()
        if r[0] == -1:
            return self.error
        if r[0] != OK:
            return "%s: %s: %s" % (self.name, COMMAND_NAMES[cmd], status_text(r[0]))
        return None

    def selftest(self, ticks_ms=None, wait_ms=None):
        """Connect with the password; None, or what failed."""
        return self._run(encode(CONNECT, PASSWORD, self.address), CONNECT, ticks_ms, wait_ms)

    def delete(self, template_id, ticks_ms=None, wait_ms=None):
        frame = encode(CLEAR_ENROLL, id_bytes(template_id), self.address)
        return self._run(frame, CLEAR_ENROLL, ticks_ms, wait_ms)


def status_text(status):
    text = STATUS_TEXTS.get(status)
    return text if text is not None else "unknown status 0x%02X" % status
