"""A terminal's request bytes over a real TCP connection, on the desktop.

The firmware's uplink produces whole HTTP requests as bytes and consumes whole answers as bytes
(sans-IO). :class:`HttpLink` carries them to a receiver on 127.0.0.1 over one kept-alive
connection (reconnecting when the receiver closed it), which is what ``make sim`` and the
end-to-end tests use in place of the in-memory server.
"""

from __future__ import annotations

import socket

from protocol.http import HttpError, ResponseParser


class LinkError(OSError):
    """The receiver could not be reached or closed the connection without a whole answer
    (an OSError, as a board's socket error would be: the rig reports it as ``no_route``)."""


class HttpLink:
    def __init__(self, host: str, port: int, timeout_s: float = 15.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self.requests = 0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), self.timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def exchange(self, request: bytes) -> bytes:
        """Send one request, return the bytes of its answer (one retry on a stale connection)."""
        for attempt in (0, 1):
            fresh = self._sock is None
            if fresh:
                try:
                    self._sock = self._connect()
                except OSError as e:
                    raise LinkError(f"cannot connect: {e}") from None
            assert self._sock is not None
            try:
                return self._round_trip(self._sock, request)
            except (OSError, LinkError) as e:
                self.close()
                if fresh or attempt:
                    raise LinkError(str(e)) from None
        raise LinkError("unreachable")

    def _round_trip(self, sock: socket.socket, request: bytes) -> bytes:
        sock.sendall(request)
        self.requests += 1
        parser = ResponseParser(request.split(b" ", 1)[0].decode())
        raw = bytearray()
        while True:
            data = sock.recv(65536)
            if not data:
                try:
                    parser.eof()
                except HttpError as e:
                    raise LinkError(f"connection closed: {e}") from None
                self.close()
                return bytes(raw)
            raw.extend(data)
            try:
                msg = parser.feed(data)
            except HttpError as e:
                raise LinkError(f"unreadable answer: {e}") from None
            if msg is not None:
                if (msg.header("connection") or "").lower() == "close":
                    self.close()
                return bytes(raw)

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
