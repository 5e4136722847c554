"""A small HTTP/1.1 codec (MicroPython, sans-IO): requests and responses out, both parsed in.

docs/PROTOCOL.md, PRT-TR-1 and PRT-SRV-3. Parsers are fed bytes as they arrive and return the
message once it is complete. Bodies are delimited by ``Content-Length`` or chunked transfer
coding (a response may also run until the connection closes: call :meth:`eof`). Every limit is
enforced while bytes arrive, and every malformed input raises :class:`HttpError` with a message
saying what was wrong.
"""

from micropython import const

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _DONE = range(8)

MAX_HEAD = const(8192)
MAX_BODY = const(65536)
MAX_HEADERS = const(48)
_MAX_CHUNK_LINE = const(80)

REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

_TOKEN = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HEX = b"0123456789abcdefABCDEF"


class HttpError(Exception):
    """A malformed or over-limit HTTP message; the text says what and where."""

    status = 400  # what a server answers to such a request


class HttpTooLarge(HttpError):
    """A body over the limit (413) or a header section over the limit (431)."""

    def __init__(self, message, status=413):
        super().__init__(message)
        self.status = status


class Message:
    """A parsed request or response. ``headers`` is a list of (lower-case name, value)."""

    def __init__(self):
        self.method = ""
        self.target = ""
        self.status = 0
        self.reason = ""
        self.version = ""
        self.headers = []
        self.body = b""

    def header(self, name):
        """The value of header ``name`` (lower case), or None; repeated headers are joined."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value if found is None else found + ", " + value
        return found

    def __repr__(self):
        if self.method:
            return "<Request %s %s, %d bytes>" % (self.method, self.target, len(self.body))
        return "<Response %d, %d bytes>" % (self.status, len(self.body))


def _head(start_line, headers, body):
    out = [start_line]
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in str(value) or "\n" in str(value):
            raise HttpError("line break in header " + repr(name))
        out.append("%s: %s" % (name, value))
    out.append("Content-Length: %d" % len(body))
    out.append("")
    out.append("")
    return "\r\n".join(out).encode()


def encode_request(method, target, host, headers, body=b""):
    """Bytes of an HTTP/1.1 request; ``Content-Length`` is always sent."""
    return _head("%s %s HTTP/1.1\r\nHost: %s" % (method, target, host), headers, body) + body


def encode_response(status, headers, body=b""):
    """Bytes of an HTTP/1.1 response; ``Content-Length`` is always sent."""
    line = "HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))
    return _head(line, headers, body) + body


def _is_token(data, start=0, end=-1):
    if end < 0:
        end = len(data)
    if start >= end:
        return False
    for i in range(start, end):
        if data[i] not in _TOKEN:
            return False
    return True


def _check_text(data, what, start=0):
    """Printable ASCII or tab from ``start`` on. ``what`` names the place in the error; None
    means a header line whose value starts at ``start`` (its name is only decoded for the
    error, so a good line costs no text)."""
    for i in range(start, len(data)):
        b = data[i]
        if (b < 0x20 and b != 9) or b >= 0x7F:
            if what is None:
                what = "header " + bytes(data[: start - 1]).decode()
            raise HttpError("control or non-ASCII byte 0x%02x in %s" % (b, what))


class _Parser:
    """Common part of the request and response parsers."""

    def __init__(self, max_head=MAX_HEAD, max_body=MAX_BODY, max_headers=MAX_HEADERS):
        self.max_head = max_head
        self.max_body = max_body
        self.max_headers = max_headers
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already consumed (compacted once per feed)
        self._state = _HEAD
        self._need = 0
        self._trailer_bytes = 0
        self._body = bytearray()
        self._whole = None  # a Content-Length body that arrived in one piece
        self.message = None
        self.received = 0
        self.trailing = b""  # bytes that arrived after a complete message

    def feed(self, data):
        """Add received bytes; return the complete :class:`Message`, or None for more."""
        if self._state == _DONE:
            self.trailing += bytes(data)
            return self.message
        self.received += len(data)
        self._buf.extend(data)
        try:
            return self._run()
        finally:
            if self._pos:
                self._buf = self._buf[self._pos :]
                self._pos = 0

    def _avail(self):
        return len(self._buf) - self._pos

    def _find(self, sep):
        at = self._buf.find(sep, self._pos)
        return at - self._pos if at >= 0 else -1

    def _take(self, n, skip=0):
        """The next ``n`` bytes, then ``skip`` more dropped (one copy: a terminal's RAM)."""
        data = bytes(memoryview(self._buf)[self._pos : self._pos + n])
        self._pos += n + skip
        return data

    def _run(self):
        while True:
            state = self._state
            if state == _HEAD:
                if not self._parse_head():
                    return None
            elif state == _LENGTH:
                if not self._take_exact():
                    return None
            elif state == _CHUNK_SIZE:
                if not self._chunk_size():
                    return None
            elif state == _CHUNK_DATA:
                if not self._take_exact():
                    return None
            elif state == _CHUNK_END:
                if self._avail() < 2:
                    return None
                if self._take(2) != b"\r\n":
                    raise HttpError("chunk data not followed by CRLF")
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                if not self._trailer():
                    return None
            elif state == _UNTIL_CLOSE:
                if len(self._body) + self._avail() > self.max_body:
                    raise HttpTooLarge("body larger than %d bytes" % self.max_body)
                self._body.extend(self._take(self._avail()))
                return None
            else:
                return self._finish()

    def eof(self):
        """The peer closed the connection: the message if it is complete, else HttpError."""
        if self._state == _DONE:
            return self.message
        if self._state == _UNTIL_CLOSE:
            return self._finish()
        if self._state == _HEAD:
            if not self.received:
                raise HttpError("connection closed before any reply")
            raise HttpError("connection closed inside the header section")
        raise HttpError("connection closed before the body was complete (truncated)")

    def _finish(self):
        self._state = _DONE
        msg = self.message
        assert msg is not None  # the head was parsed before any body state
        msg.body = self._whole if self._whole is not None else bytes(self._body)
        self._whole = None
        self._body = bytearray()
        if self._avail():
            self.trailing = self._take(self._avail())
        return msg

    def _parse_head(self):
        end = self._find(b"\r\n\r\n")
        if end < 0:
            if self._avail() > self.max_head:
                raise HttpTooLarge("header section larger than %d bytes" % self.max_head, 431)
            return False
        if end + 4 > self.max_head:
            raise HttpTooLarge("header section larger than %d bytes" % self.max_head, 431)
        # Line by line straight from the buffer: no copy of the whole head, no list of lines.
        buf = self._buf
        at = self._pos
        stop = at + end
        msg = Message()
        count = -1
        while True:
            eol = buf.find(b"\r\n", at, stop)
            if eol < 0:
                eol = stop
            line = buf[at:eol]
            if count < 0:
                self._start_line(msg, line)
            else:
                if count >= self.max_headers:
                    raise HttpTooLarge("more than %d header fields" % self.max_headers, 431)
                msg.headers.append(self._header_line(line))
            count += 1
            if eol >= stop:
                break
            at = eol + 2
        self._pos = stop + 4
        self.message = msg
        if self._interim(msg):
            self.message = None
            return True  # a 1xx interim response: parse the next head
        self._body_framing(msg)
        return True

    def _header_line(self, line):
        if not line:
            raise HttpError("empty header line")
        if line[0] in b" \t":
            raise HttpError("obsolete line folding in header section")
        colon = line.find(b":")
        if colon <= 0:
            raise HttpError("header line without a name and colon")
        if not _is_token(line, 0, colon):
            raise HttpError("invalid header name")
        _check_text(line, None, colon + 1)
        text = line.decode()  # ASCII, checked: one string, then the two parts
        return text[:colon].lower(), text[colon + 1 :].strip()

    def _start_line(self, msg, line):
        raise NotImplementedError

    def _interim(self, msg):
        return False

    def _no_body(self, msg):
        return False

    def _body_framing(self, msg):
        te = msg.header("transfer-encoding")
        cl = msg.header("content-length")
        if te is not None and cl is not None:
            raise HttpError("both Transfer-Encoding and Content-Length")
        if self._no_body(msg):
            self._state = _DONE
            return
        if te is not None:
            if te.lower() != "chunked":
                raise HttpError("unsupported transfer coding " + repr(te))
            self._state = _CHUNK_SIZE
            return
        if cl is not None:
            values = [v.strip() for v in cl.split(",")]
            for v in values:
                if v != values[0]:
                    raise HttpError("conflicting Content-Length values")
            v = values[0]
            if not v or len(v) > 10 or not v.isdigit():
                raise HttpError("invalid Content-Length " + repr(cl))
            length = int(v)
            if length > self.max_body:
                raise HttpTooLarge("body of %d bytes over the limit %d" % (length, self.max_body))
            self._need = length
            self._state = _LENGTH if length else _DONE
            return
        self._no_length(msg)

    def _no_length(self, msg):
        self._state = _DONE

    def _take_exact(self):
        avail = self._avail()
        if not avail:
            return False
        n = self._need if self._need < avail else avail
        if self._state == _LENGTH and n == self._need and not self._body:
            self._whole = self._take(n)  # the whole body at once: kept as it is, no more copies
        else:
            self._body.extend(memoryview(self._buf)[self._pos : self._pos + n])
            self._pos += n
        self._need -= n
        if self._need:
            return False
        self._state = _DONE if self._state == _LENGTH else _CHUNK_END
        return True

    def _chunk_size(self):
        end = self._find(b"\r\n")
        if end < 0:
            if self._avail() > _MAX_CHUNK_LINE:
                raise HttpError("chunk size line too long")
            return False
        line = self._take(end, 2)
        semi = line.find(b";")
        digits = (line if semi < 0 else line[:semi]).strip()
        if not digits or len(digits) > 8:
            raise HttpError("invalid chunk size")
        for b in digits:
            if b not in _HEX:
                raise HttpError("invalid chunk size")
        size = int(digits, 16)
        if len(self._body) + size > self.max_body:
            raise HttpTooLarge("chunked body exceeds the limit of %d bytes" % self.max_body)
        if size == 0:
            self._state = _TRAILER
        else:
            self._need = size
            self._state = _CHUNK_DATA
        return True

    def _trailer(self):
        end = self._find(b"\r\n")
        if end < 0:
            if self._trailer_bytes + self._avail() > self.max_head:
                raise HttpTooLarge("trailer section larger than %d bytes" % self.max_head, 431)
            return False
        line = self._take(end, 2)
        self._trailer_bytes += end + 2
        if self._trailer_bytes > self.max_head:
            raise HttpTooLarge("trailer section larger than %d bytes" % self.max_head, 431)
        if line:
            self._header_line(line)  # checked, then dropped: trailers carry nothing we use
            return True
        self._state = _DONE
        return True


class ResponseParser(_Parser):
    """Parses one response; 1xx interim responses are skipped."""

    def __init__(self, request_method="POST", **limits):
        super().__init__(**limits)
        self.request_method = request_method

    def _start_line(self, msg, line):
        _check_text(line, "status line")
        parts = line.split(b" ", 2)
        if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise HttpError("not an HTTP/1.x status line")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 599:
            raise HttpError("invalid status code")
        msg.version = parts[0].decode()
        msg.status = int(code)
        msg.reason = parts[2].decode() if len(parts) > 2 else ""

    def _interim(self, msg):
        return 100 <= msg.status < 200

    def _no_body(self, msg):
        return self.request_method == "HEAD" or msg.status in (204, 304)

    def _no_length(self, msg):
        self._state = _UNTIL_CLOSE  # read until the server closes the connection


class RequestParser(_Parser):
    """Parses one request (the receiver's side); a body needs a length or chunked coding."""

    def _start_line(self, msg, line):
        _check_text(line, "request line")
        parts = line.split(b" ")
        if len(parts) != 3:
            raise HttpError("malformed request line")
        if not _is_token(parts[0]):
            raise HttpError("invalid method")
        if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise HttpError("unsupported HTTP version")
        if not parts[1] or parts[1][:1] != b"/":
            raise HttpError("request target must be an absolute path")
        msg.method = parts[0].decode()
        msg.target = parts[1].decode()
        msg.version = parts[2].decode()
