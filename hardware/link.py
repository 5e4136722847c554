"""One PN53x command exchange at a time: command -> ACK -> response, paced by time passed in.

``Link.start(frame, code, now_ms, timeout_ms)`` writes a command frame; ``Link.step(now_ms)``
reads what the bus has (never waits) and returns ``PENDING``, ``DONE`` (the response body,
TFI first, is ``decoder.body[0:decoder.length]``) or ``FAILED`` (``error`` says why, one of the
codes below; ``error_text()`` names it). Recovery on the wire, as the chips' manuals and
nfcpy do it: a NACK from the chip resends the command once; a response with a bad LCS or DCS
is asked for again once with a NACK (the chip repeats its last response); on failure the
command is cancelled with an ACK and the input flushed. A response that arrives without its
ACK is accepted (nfcpy does the same). A good frame with another response code is a late
answer to an earlier command (a PN532 on I2C keeps its answer until the host reads it, also
across a bus fault): it is dropped, counted in ``stale``, and the link waits on for its own
answer; when none comes in time, the exchange fails as "unexpected response code (XX)".
Before each command the input is flushed (the I2C transport reads out and drops an answer
the chip still holds). Buffers are allocated once; ``step`` allocates nothing.

Transports: ``UartTransport`` (any object with ``write``, ``readinto`` and ``any``: a
``machine.UART``, a pyserial port, the simulator's serial line) and the PN532's I2C transport
(``hardware.pn532.I2cTransport``). A transport's ``readinto(buf, expect_ack)`` fills ``buf``
from index 0 with what is there and returns the count (0 when nothing).
"""

from micropython import const

from hardware import pn53x

PENDING = const(0)
DONE = const(1)
FAILED = const(2)

# Failure codes
E_NO_ACK = const(1)
E_NACK = const(2)
E_ERROR_FRAME = const(3)
E_BAD_LCS = const(4)
E_BAD_DCS = const(5)
E_TOO_LONG = const(6)
E_WRONG_TFI = const(7)
E_WRONG_CODE = const(8)
E_NO_RESPONSE = const(9)
E_BUS = const(10)

ERROR_TEXTS = (
    "",
    "no ACK",
    "NACK twice",
    "error frame (syntax error)",
    "bad length checksum",
    "bad data checksum",
    "frame too long",
    "wrong frame identifier",
    "unexpected response code",
    "no response",
    "bus error",
)

_IDLE = const(0)
_WAIT_ACK = const(1)
_WAIT_RESPONSE = const(2)

ACK_TIMEOUT_MS = const(100)  # nfcpy's figure


class UartTransport:
    """A UART-like bus: ``write(b)``, ``readinto(buf)`` (count or None), ``any()``."""

    def __init__(self, uart):
        self.uart = uart

    def send(self, frame):
        self.uart.write(frame)

    def readinto(self, buf, expect_ack):
        if not self.uart.any():
            return 0
        n = self.uart.readinto(buf)
        return n or 0

    def flush(self, buf):
        while self.uart.any():
            if not self.uart.readinto(buf):
                break


class Link:
    def __init__(self, transport, decoder=None, tfi=pn53x.TFI_CHIP):
        self.transport = transport
        self.decoder = decoder if decoder is not None else pn53x.Decoder()
        self.tfi = tfi  # the chip's frame identifier (D5; D7 on the RC-S380)
        self.error = 0
        self.wrong = 0  # the byte that was wrong (TFI or response code), for the log
        self.exchanges = 0
        self.retries = 0  # NACK resends and repeated responses, over the link's life
        self.stale = 0  # late answers to earlier commands dropped, over the link's life
        self._inbuf = bytearray(64)
        self._inpos = 0
        self._inlen = 0
        self._state = _IDLE
        self._frame = b""
        self._code = 0
        self._deadline = 0
        self._timeout = 0
        self._resent = False
        self._asked_again = False

    def start(self, frame, code, now_ms, timeout_ms):
        """Write ``frame`` (a command with code ``code``); the response is due within
        ``timeout_ms`` of the ACK. What is in the input before it is stale: dropped."""
        self._drop_input()
        self._frame = frame
        self._code = code
        self._timeout = timeout_ms
        self._resent = False
        self._asked_again = False
        self.error = 0
        self.wrong = 0
        self.exchanges += 1
        if not self._send(frame):
            return
        self._state = _WAIT_ACK
        self._deadline = now_ms + ACK_TIMEOUT_MS

    def write(self, data):
        """Write raw bytes that get no answer (a wake-up preamble, an ACK)."""
        return self._send(data)

    def cancel(self):
        """Abort the command (an ACK to the chip) and drop what is in the input."""
        self._state = _IDLE
        self._send(pn53x.ACK_FRAME)
        self._drop_input()

    def _drop_input(self):
        try:
            self.transport.flush(self._inbuf)
        except OSError:
            pass
        self._inpos = self._inlen = 0
        self.decoder.reset()

    def _send(self, data):
        try:
            self.transport.send(data)
        except OSError:
            self.error = E_BUS
            self._state = _IDLE
            return False
        return True

    def error_text(self):
        return ERROR_TEXTS[self.error]

    def step(self, now_ms):
        if self._state == _IDLE:
            return FAILED if self.error else DONE
        d = self.decoder
        while True:
            if self._inpos >= self._inlen:
                try:
                    n = self.transport.readinto(self._inbuf, self._state == _WAIT_ACK)
                except OSError:
                    return self._fail(E_BUS)
                if not n:
                    break
                self._inpos = 0
                self._inlen = n
            b = self._inbuf[self._inpos]
            self._inpos += 1
            r = d.push(b)
            if r == pn53x.NOTHING:
                continue
            if r == pn53x.ACK:
                if self._state == _WAIT_ACK:
                    self._state = _WAIT_RESPONSE
                    self._deadline = now_ms + self._timeout
                continue
            if r == pn53x.FRAME:
                if self._frame_done():
                    return FAILED if self.error else DONE
                continue  # a late answer to an earlier command: dropped, wait on
            if r == pn53x.NACK:
                if self._resent:
                    return self._fail(E_NACK)
                self._resent = True
                self.retries += 1
                self._drop_input()
                if not self._send(self._frame):
                    return FAILED
                self._state = _WAIT_ACK
                self._deadline = now_ms + ACK_TIMEOUT_MS
                continue
            if r == pn53x.ERROR:
                return self._fail(E_ERROR_FRAME)
            # BAD_LCS, BAD_DCS, TOO_LONG: ask for the response again, once
            if self._asked_again:
                if r == pn53x.BAD_LCS:
                    return self._fail(E_BAD_LCS)
                return self._fail(E_BAD_DCS if r == pn53x.BAD_DCS else E_TOO_LONG)
            self._asked_again = True
            self.retries += 1
            self._drop_input()
            if not self._send(pn53x.NACK_FRAME):
                return FAILED
            self._state = _WAIT_RESPONSE
            self._deadline = now_ms + self._timeout
        if now_ms >= self._deadline:
            if self.wrong:  # only late answers to other commands came
                return self._fail(E_WRONG_CODE)
            return self._fail(E_NO_ACK if self._state == _WAIT_ACK else E_NO_RESPONSE)
        return PENDING

    def _frame_done(self):
        """True when the exchange ended (answered, or failed); False for a late answer to an
        earlier command, which is dropped."""
        d = self.decoder
        if d.length < 2 or d.body[0] != self.tfi:
            self.wrong = d.body[0] if d.length else 0
            self._fail(E_WRONG_TFI)
            return True
        if d.body[1] != self._code + 1:
            self.wrong = d.body[1]
            self.stale += 1
            return False
        self._state = _IDLE
        return True

    def _fail(self, code):
        self.error = code
        self.cancel()
        return FAILED
