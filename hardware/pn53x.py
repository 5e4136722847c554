"""The PN53x host frame codec (PN532, Sony RC-S620S/RC-S956, and RC-S380's extended frames).

Normal frame ``00 00 FF LEN LCS TFI data… DCS 00``: LEN counts TFI through the last data byte,
LCS = -LEN & 0xFF, DCS = -sum(TFI..data) & 0xFF. Extended frame ``00 00 FF FF FF LENhi LENlo
LCS …`` (the RC-S380 sends its length little-endian). ACK ``00 00 FF 00 FF 00``, NACK
``00 00 FF FF 00 00``, the syntax-error frame ``00 00 FF 01 FF 7F 81 00``.

``encode`` builds a frame (it allocates: drivers build their fixed command frames once, at
start). ``Decoder`` takes bytes one at a time and says what it recognised; it keeps one
preallocated body buffer, so decoding allocates nothing. Garbage before a frame is skipped up
to the next ``00 FF`` start code (counted in ``skipped``); a frame that fails its LCS or DCS is
reported and the decoder resynchronises on the next start code.
"""

from micropython import const

TFI_HOST = const(0xD4)  # host to chip (PN532, RC-S620S)
TFI_CHIP = const(0xD5)  # chip to host
TFI_ERROR = const(0x7F)  # the body of the syntax-error frame

ACK_FRAME = b"\x00\x00\xff\x00\xff\x00"
NACK_FRAME = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"

# What Decoder.push recognised (0: nothing yet).
NOTHING = const(0)
ACK = const(1)
NACK = const(2)
ERROR = const(3)  # the chip's syntax-error frame
FRAME = const(4)  # a data frame: body[0:length] (TFI first)
BAD_LCS = const(5)  # length checksum wrong (or an extended length out of range)
BAD_DCS = const(6)  # data checksum wrong
TOO_LONG = const(7)  # longer than the body buffer

NAMES = ("nothing", "ACK", "NACK", "error frame", "frame", "bad LCS", "bad DCS", "frame too long")

# Decoder states
_HUNT = const(0)  # looking for the first 00
_ZERO = const(1)  # seen 00 (any number of them)
_LEN = const(2)  # seen 00 FF: the LEN byte, or 00 / FF of ACK, NACK and extended frames
_ACK2 = const(3)  # seen 00 FF 00: FF makes an ACK
_FF2 = const(4)  # seen 00 FF FF: 00 makes a NACK, FF an extended frame
_ELEN1 = const(5)
_ELEN2 = const(6)
_ELCS = const(7)
_LCS = const(8)
_BODY = const(9)
_DCS = const(10)


def checksum(data, start=0, end=-1):
    """-sum(data[start:end]) & 0xFF, without slicing."""
    if end < 0:
        end = len(data)
    s = 0
    for i in range(start, end):
        s += data[i]
    return -s & 0xFF


def encode(body, extended=False, little_endian=False):
    """The frame carrying ``body`` (TFI first); extended when asked or when ``body`` is longer
    than 255 bytes."""
    n = len(body)
    if n == 0 or n > 0xFFFF:
        raise ValueError("frame body of %d bytes" % n)
    if extended or n > 255:
        hi = n >> 8
        lo = n & 0xFF
        head = bytes((0, 0, 0xFF, 0xFF, 0xFF))
        length = bytes((lo, hi) if little_endian else (hi, lo))
        out = bytearray(head + length + bytes((-(hi + lo) & 0xFF,)))
    else:
        out = bytearray((0, 0, 0xFF, n, -n & 0xFF))
    out.extend(body)
    out.append(checksum(body))
    out.append(0)
    return out


def command(code, data=b"", tfi=TFI_HOST):
    """A host command frame: TFI, command code, data."""
    return encode(bytes((tfi, code)) + bytes(data))


class Decoder:
    """Incremental frame decoder. ``push(byte)`` returns one of the results above; after
    ``FRAME`` the body (TFI first) is ``body[0:length]`` until the next push."""

    def __init__(self, size=272, little_endian=False):
        self.body = bytearray(size)
        self.length = 0
        self.little_endian = little_endian
        self.skipped = 0  # garbage bytes skipped while hunting for a start code
        self._state = _HUNT
        self._want = 0
        self._sum = 0
        self._hi = 0

    def reset(self):
        self._state = _HUNT
        self.length = 0

    def push(self, b):
        st = self._state
        if st == _HUNT:
            if b == 0:
                self._state = _ZERO
            else:
                self.skipped += 1
            return NOTHING
        if st == _ZERO:
            if b == 0xFF:
                self._state = _LEN
            elif b != 0:
                self.skipped += 2  # the zero and this byte
                self._state = _HUNT
            return NOTHING
        if st == _LEN:
            if b == 0x00:
                self._state = _ACK2
            elif b == 0xFF:
                self._state = _FF2
            else:
                self._want = b
                self._state = _LCS
            return NOTHING
        if st == _ACK2:
            return self._end(ACK) if b == 0xFF else self._garbage(b)
        if st == _FF2:
            if b == 0x00:
                return self._end(NACK)
            if b == 0xFF:
                self._state = _ELEN1
                return NOTHING
            return self._garbage(b)
        if st == _ELEN1:
            self._hi = b
            self._state = _ELEN2
            return NOTHING
        if st == _ELEN2:
            first = self._hi
            self._want = (b << 8 | first) if self.little_endian else (first << 8 | b)
            self._hi = first + b
            self._state = _ELCS
            return NOTHING
        if st == _ELCS:
            if (self._hi + b) & 0xFF or self._want == 0:
                return self._end(BAD_LCS)
            return self._start_body()
        if st == _LCS:
            if (self._want + b) & 0xFF:
                return self._end(BAD_LCS)
            return self._start_body()
        if st == _BODY:
            n = self.length
            self.body[n] = b
            self.length = n + 1
            self._sum += b
            if n + 1 == self._want:
                self._state = _DCS
            return NOTHING
        # _DCS
        if (self._sum + b) & 0xFF:
            return self._end(BAD_DCS)
        if self.length == 1 and self.body[0] == TFI_ERROR:
            return self._end(ERROR)
        return self._end(FRAME)

    def _start_body(self):
        if self._want > len(self.body):
            return self._end(TOO_LONG)
        self.length = 0
        self._sum = 0
        self._state = _BODY
        return NOTHING

    def _end(self, result):
        # The postamble 00 that follows is taken as a possible preamble of the next frame.
        self._state = _HUNT
        return result

    def _garbage(self, b):
        self.skipped += 3
        self._state = _ZERO if b == 0 else _HUNT
        return NOTHING
