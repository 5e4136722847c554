"""The R30x / R307 / R503 fingerprint module's packet (MicroPython): codec and one exchange.

A packet is ``EF 01 | ADDR[4] | PID | LEN(2, BE) | payload | SUM(2, BE)``. PID 01 is a command,
02 data, 07 an acknowledgement, 08 the end of data. LEN counts the payload and the checksum;
SUM is the 16-bit sum of PID, the two LEN bytes and the payload. The module answers each
command with one acknowledgement whose first payload byte is the confirmation code.

``encode(pid, payload, address)`` builds a packet; ``Decoder.push(b)`` takes one byte at a time
and returns ``NOTHING``, ``PACKET`` (``pid``, ``body[0:length]``) or a failure (``BAD_SUM``,
``TOO_LONG``, ``WRONG_ADDRESS``); it skips bytes until ``EF 01`` (``skipped`` counts them).

``Exchange(uart)`` writes a command and steps through the answer, paced by the time passed in
(``start``, then ``step(now_ms)`` → ``PENDING``, ``DONE`` or ``FAILED``, ``error`` one of the
``E_*`` codes). A bad checksum is not answered by the module's protocol (there is no NACK):
the command is sent again once; so is a command the module answered with code 01 (it
received our packet spoilt). A second bad answer fails. Buffers are allocated once.
"""

from micropython import const

PID_COMMAND = const(0x01)
PID_DATA = const(0x02)
PID_ACK = const(0x07)
PID_END = const(0x08)

DEFAULT_ADDRESS = b"\xff\xff\xff\xff"

# Instructions
GEN_IMG = const(0x01)
IMG2TZ = const(0x02)
MATCH = const(0x03)
SEARCH = const(0x04)
REG_MODEL = const(0x05)
STORE = const(0x06)
LOAD_CHAR = const(0x07)
DELETE_CHAR = const(0x0C)
EMPTY = const(0x0D)
READ_SYS_PARA = const(0x0F)
VFY_PWD = const(0x13)
TEMPLATE_NUM = const(0x1D)
READ_INDEX_TABLE = const(0x1F)
GET_ECHO = const(0x53)

INSTRUCTION_NAMES = {
    GEN_IMG: "GenImg",
    IMG2TZ: "Img2Tz",
    MATCH: "Match",
    SEARCH: "Search",
    REG_MODEL: "RegModel",
    STORE: "Store",
    LOAD_CHAR: "LoadChar",
    DELETE_CHAR: "DeleteChar",
    EMPTY: "Empty",
    READ_SYS_PARA: "ReadSysPara",
    VFY_PWD: "VfyPwd",
    TEMPLATE_NUM: "TemplateNum",
    READ_INDEX_TABLE: "ReadIndexTable",
    GET_ECHO: "GetEcho",
}

# Confirmation codes
OK = const(0x00)
PACKET_ERROR = const(0x01)
NO_FINGER = const(0x02)
IMAGE_FAIL = const(0x03)
TOO_DISORDERED = const(0x06)
TOO_FEW_FEATURES = const(0x07)
NO_MATCH = const(0x08)
NOT_FOUND = const(0x09)
ENROLL_MISMATCH = const(0x0A)
BAD_LOCATION = const(0x0B)
READ_ERROR = const(0x0C)
DELETE_FAILED = const(0x10)
NO_VALID_IMAGE = const(0x15)
WRONG_PASSWORD = const(0x13)
FLASH_ERROR = const(0x18)
ECHO_OK = const(0x55)  # GetEcho's answer

CODE_TEXTS = {
    OK: "ok",
    PACKET_ERROR: "packet error",
    NO_FINGER: "no finger",
    IMAGE_FAIL: "image failed",
    TOO_DISORDERED: "image too disordered",
    TOO_FEW_FEATURES: "too few features",
    NO_MATCH: "no match",
    NOT_FOUND: "not found",
    ENROLL_MISMATCH: "the two images differ",
    BAD_LOCATION: "bad location",
    READ_ERROR: "template read error",
    DELETE_FAILED: "delete failed",
    NO_VALID_IMAGE: "no valid image",
    WRONG_PASSWORD: "wrong password",
    FLASH_ERROR: "flash error",
    ECHO_OK: "echo",
}

# Decoder results
NOTHING = const(0)
PACKET = const(1)
BAD_SUM = const(2)
TOO_LONG = const(3)
WRONG_ADDRESS = const(4)

_HEAD = const(9)  # EF 01, address, PID, LEN


def checksum(pid, length, payload):
    s = pid + (length >> 8) + (length & 0xFF)
    for b in payload:
        s += b
    return s & 0xFFFF


def encode(pid, payload, address=DEFAULT_ADDRESS):
    n = len(payload) + 2
    s = checksum(pid, n, payload)
    return (
        b"\xef\x01"
        + bytes(address)
        + bytes((pid, n >> 8, n & 0xFF))
        + bytes(payload)
        + bytes((s >> 8, s & 0xFF))
    )


def command(instruction, params=b"", address=DEFAULT_ADDRESS):
    return encode(PID_COMMAND, bytes((instruction,)) + bytes(params), address)


class Decoder:
    """Byte-at-a-time packet decoder; ``body[0:length]`` is the payload, ``pid`` its type."""

    def __init__(self, size=64, address=DEFAULT_ADDRESS):
        self.body = bytearray(size)
        self.address = bytes(address)
        self.length = 0
        self.pid = 0
        self.skipped = 0
        self._head = bytearray(_HEAD)
        self._at = 0
        self._need = 0
        self._sum = 0

    def reset(self):
        self._at = 0

    def push(self, b):
        at = self._at
        if at == 0:
            if b == 0xEF:
                self._head[0] = b
                self._at = 1
            else:
                self.skipped += 1
            return NOTHING
        if at == 1:
            if b == 0x01:
                self._at = 2
            elif b == 0xEF:
                self.skipped += 1  # EF EF 01: the first EF was noise
            else:
                self.skipped += 2
                self._at = 0
            return NOTHING
        if at < _HEAD:
            self._head[at] = b
            self._at = at + 1
            if self._at == _HEAD:
                h = self._head
                self.pid = h[6]
                n = (h[7] << 8) | h[8]
                if n < 2 or n - 2 > len(self.body):
                    self._at = 0
                    return TOO_LONG
                self.length = n - 2
                self._need = n
                self._sum = h[6] + h[7] + h[8]
            return NOTHING
        i = at - _HEAD
        self._at = at + 1
        if i < self.length:
            self.body[i] = b
            self._sum += b
            return NOTHING
        if i == self.length:
            self._need = b  # checksum high byte
            return NOTHING
        self._at = 0
        if ((self._need << 8) | b) != (self._sum & 0xFFFF):
            return BAD_SUM
        h = self._head
        for k in range(4):
            if h[2 + k] != self.address[k]:
                return WRONG_ADDRESS
        return PACKET


# Exchange results and failure codes
PENDING = const(0)
DONE = const(1)
FAILED = const(2)

E_NO_ANSWER = const(1)
E_BAD_SUM = const(2)
E_NOT_ACK = const(3)
E_TOO_LONG = const(4)
E_BUS = const(5)
E_WRONG_ADDRESS = const(6)

ERROR_TEXTS = (
    "",
    "no answer",
    "bad checksum twice",
    "answer is not an acknowledgement",
    "answer too long",
    "bus error",
    "answer from another address",
)


class Exchange:
    """One command, one acknowledgement, over a UART (``write``, ``readinto``, ``any``)."""

    def __init__(self, uart, address=DEFAULT_ADDRESS):
        self.uart = uart
        self.decoder = Decoder(64, address)
        self.error = 0
        self.exchanges = 0
        self.resends = 0  # commands sent again after a bad answer, over the exchange's life
        self._inbuf = bytearray(32)
        self._inpos = 0
        self._inlen = 0
        self._busy = False
        self._frame = b""
        self._deadline = 0
        self._timeout = 0
        self._resent = False

    def start(self, frame, now_ms, timeout_ms):
        self._flush()
        self._frame = frame
        self._timeout = timeout_ms
        self._resent = False
        self.error = 0
        self.exchanges += 1
        self._busy = self._send(now_ms)

    def _send(self, now_ms):
        try:
            self.uart.write(self._frame)
        except OSError:
            self.error = E_BUS
            return False
        self._deadline = now_ms + self._timeout
        return True

    def _flush(self):
        self._inpos = self._inlen = 0
        self.decoder.reset()
        try:
            while self.uart.any():
                if not self.uart.readinto(self._inbuf):
                    break
        except OSError:
            pass

    def cancel(self):
        self._busy = False
        self._flush()

    def error_text(self):
        return ERROR_TEXTS[self.error]

    def step(self, now_ms):
        if not self._busy:
            return FAILED if self.error else DONE
        d = self.decoder
        while True:
            if self._inpos >= self._inlen:
                try:
                    n = self.uart.readinto(self._inbuf) if self.uart.any() else 0
                except OSError:
                    return self._fail(E_BUS)
                if not n:
                    break
                self._inpos = 0
                self._inlen = n
            r = d.push(self._inbuf[self._inpos])
            self._inpos += 1
            if r == NOTHING:
                continue
            if r == PACKET:
                if d.pid != PID_ACK or d.length < 1:
                    return self._fail(E_NOT_ACK)
                if d.body[0] == PACKET_ERROR and not self._resent:
                    # the module got our command spoilt: send it again, once
                    self._resent = True
                    self.resends += 1
                    self._flush()
                    if not self._send(now_ms):
                        self._busy = False
                        return FAILED
                    continue
                self._busy = False
                return DONE
            if r == WRONG_ADDRESS:
                return self._fail(E_WRONG_ADDRESS)
            # BAD_SUM, TOO_LONG: the answer was spoilt on the line; ask once more
            if self._resent:
                return self._fail(E_BAD_SUM if r == BAD_SUM else E_TOO_LONG)
            self._resent = True
            self.resends += 1
            self._flush()
            if not self._send(now_ms):
                self._busy = False
                return FAILED
        if now_ms >= self._deadline:
            return self._fail(E_NO_ANSWER)
        return PENDING

    def _fail(self, code):
        self.error = code
        self.cancel()
        return FAILED
