"""The terminal's network link: Wi-Fi (PiT style) or wired LAN (BT style), TCP, TLS where the
board has ``ssl`` (MicroPython).

``NetLink(iface, network, socket, host, port, ssl=None, kind="Wi-Fi")`` gives the board the
contract of firmware/main.py:

- ``send(data)`` -> None, or an error class of ``protocol.client`` (MNG-04), with ``detail``
  saying what the link layer reported:

  ====================  ==========================================================
  what happened         class, detail
  ====================  ==========================================================
  interface down        ``NO_LINK``: "Wi-Fi: wrong password", "Wi-Fi: no access point
                        found", "LAN: cable unplugged", … (nothing was sent)
  name not resolved     ``NO_ROUTE``: "DNS: cannot resolve receiver.example (-2)"
  connect refused,      ``NO_ROUTE``: "TCP: connection refused (111)", "TCP: host
  host unreachable      unreachable (113)"
  connect timed out     ``TIMEOUT``: "TCP: connect timed out after 5 s (110)"
  TLS handshake failed  ``NO_ROUTE``: "TLS: …" (a certificate that does not verify is a
                        route to the wrong server, not a service that answered)
  write failed          ``NO_ROUTE``: "TCP: send failed (104)"
  ====================  ==========================================================

- ``poll()`` -> bytes received, ``b""`` when the peer closed, None when nothing yet; raises
  OSError for a broken connection (firmware/main.py reports it as NO_ROUTE).

One connection is kept alive between requests; before a request, a connection the peer
closed meanwhile (a receiver's keep-alive timeout) is noticed and opened again, so a stale
socket never costs a punch upload. Reads are non-blocking (``setblocking(False)``; MicroPython
TLS sockets return None when nothing is there, plain ones raise EAGAIN); connecting blocks at
most ``connect_timeout_s`` (the only wait, at most once per failed attempt: the uplink's
back-off spaces them). ``poll`` reads into a preallocated buffer.

``ntp(server)`` asks an SNTP server over UDP (RFC 4330, the 48-byte packet built and checked by
the sans-IO functions ``sntp_request``/``sntp_epoch``): UTC seconds or None.

``iface`` is ``network.WLAN(network.STA_IF)`` (connected by the board at boot) or
``network.LAN(...)``; ``network`` the module (for its status constants); ``socket`` and ``ssl``
the modules. The simulator passes its own (simulator/parts/network.py).
"""

from micropython import const

from protocol.client import NO_LINK, NO_ROUTE, TIMEOUT

EAGAIN = const(11)
ECONNRESET = const(104)
ETIMEDOUT = const(110)
ECONNREFUSED = const(111)
EHOSTUNREACH = const(113)
EINPROGRESS = const(115)

NTP_DELTA = const(2208988800)  # seconds from 1900-01-01 to 1970-01-01

ERRNO_TEXTS = {
    ECONNRESET: "connection reset",
    ETIMEDOUT: "timed out",
    ECONNREFUSED: "connection refused",
    EHOSTUNREACH: "host unreachable",
}

# Interface states by the names MicroPython's network module gives them (values differ
# between ports: they are looked up on the module the board passes).
_WLAN_TEXTS = (
    ("STAT_WRONG_PASSWORD", "wrong password"),
    ("STAT_NO_AP_FOUND", "no access point found"),
    ("STAT_CONNECT_FAIL", "connection failed"),
    ("STAT_CONNECTING", "still connecting"),
    ("STAT_IDLE", "not connected"),
    ("ETH_DISCONNECTED", "cable unplugged"),
    ("ETH_STOPPED", "interface stopped"),
    ("ETH_STARTED", "no link (cable?)"),
    ("ETH_CONNECTED", "link up, no address (DHCP?)"),
)


def errno_of(e):
    return e.args[0] if e.args and isinstance(e.args[0], int) else 0


def why(e):
    n = errno_of(e)
    if n in ERRNO_TEXTS:
        return "%s (%d)" % (ERRNO_TEXTS[n], n)
    return str(e) or repr(e)


def sntp_request(buf):
    """Fill a 48-byte buffer with an SNTP client request (LI 0, version 4, mode 3)."""
    for i in range(48):
        buf[i] = 0
    buf[0] = 0x23


def sntp_epoch(buf, n):
    """UTC seconds from an SNTP answer, or None when it is not a usable server answer."""
    if n < 48:
        return None
    mode = buf[0] & 7
    leap = buf[0] >> 6
    stratum = buf[1]
    if mode != 4 or leap == 3 or stratum == 0 or stratum > 15:  # not a server, unsynced, KoD
        return None
    seconds = (buf[40] << 24) | (buf[41] << 16) | (buf[42] << 8) | buf[43]
    if not seconds:
        return None
    return seconds - NTP_DELTA


class NetLink:
    def __init__(
        self,
        iface,
        network,
        socket,
        host,
        port,
        ssl=None,
        tls=False,
        kind="Wi-Fi",
        connect_timeout_s=5,
        buffer_size=1024,
        cadata=None,
    ):
        if tls and ssl is None:
            raise ValueError("TLS asked for, but this board has no ssl module")
        self.iface = iface
        self.network = network
        self.socket = socket
        self.ssl = ssl
        self.host = host
        self.port = port
        self.tls = tls
        self.kind = kind
        self.connect_timeout_s = connect_timeout_s
        self.cadata = cadata  # the CA certificate(s) to trust (DER or PEM), else the board's
        self.detail = ""  # what the link layer said at the last failure
        self.connects = 0
        self.failures = 0
        self._sock = None
        self._read = None
        self._write_fn = None
        self._buf = bytearray(buffer_size)
        self._ntp = bytearray(48)

    # ------------------------------------------------------------------ the interface

    def link_text(self):
        """Why the interface is not up, from its status."""
        try:
            status = self.iface.status()
        except (OSError, TypeError, ValueError):
            status = None
        for name, text in _WLAN_TEXTS:
            value = getattr(self.network, name, None)
            if value is not None and status == value:
                return "%s: %s" % (self.kind, text)
        return "%s: not connected (status %r)" % (self.kind, status)

    def link_up(self):
        try:
            return bool(self.iface.isconnected())
        except OSError:
            return False

    def selftest(self):
        """None when the interface is up, else why (the board connects it at boot)."""
        if self.link_up():
            return None
        return "network: " + self.link_text()

    # ------------------------------------------------------------------ board contract

    def send(self, data):
        if not self.link_up():
            self.close()
            return self._fail(NO_LINK, self.link_text())
        if self._sock is not None and self._peer_closed():
            self.close()
        if self._sock is None:
            error = self._open()
            if error is not None:
                return error
        try:
            self._write(data)
        except OSError as e:
            self.close()
            return self._fail(NO_ROUTE, "TCP: send failed: " + why(e))
        return None

    def poll(self):
        read = self._read
        if self._sock is None or read is None:
            return b""
        try:
            n = read(self._buf)
        except OSError as e:
            if _would_block(e):
                return None
            self.close()
            self.failures += 1
            raise
        if n is None:  # a non-blocking TLS socket with nothing yet
            return None
        if n == 0:
            self.close()
            return b""
        return bytes(self._buf[:n])

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def ntp(self, server="pool.ntp.org", port=123):
        if not self.link_up():
            return None
        s = None
        try:
            addr = self.socket.getaddrinfo(server, port, 0, self.socket.SOCK_DGRAM)[0][-1]
            s = self.socket.socket(self.socket.AF_INET, self.socket.SOCK_DGRAM)
            s.settimeout(2)
            sntp_request(self._ntp)
            s.sendto(self._ntp, addr)
            n = s.readinto(self._ntp)
        except OSError:
            return None
        finally:
            if s is not None:
                s.close()
        return sntp_epoch(self._ntp, n or 0)

    # ---------------------------------------------------------------------- inside

    def _fail(self, error_class, detail):
        self.failures += 1
        self.detail = detail
        return error_class

    def _open(self):
        sk = self.socket
        try:
            addr = sk.getaddrinfo(self.host, self.port, 0, sk.SOCK_STREAM)[0][-1]
        except OSError as e:
            return self._fail(NO_ROUTE, "DNS: cannot resolve %s (%s)" % (self.host, why(e)))
        s = sk.socket(sk.AF_INET, sk.SOCK_STREAM)
        try:
            s.settimeout(self.connect_timeout_s)
            s.connect(addr)
        except OSError as e:
            s.close()
            if errno_of(e) == ETIMEDOUT:
                text = "TCP: connect timed out after %d s (%s)" % (self.connect_timeout_s, why(e))
                return self._fail(TIMEOUT, text)
            return self._fail(NO_ROUTE, "TCP: %s:%d %s" % (self.host, self.port, why(e)))
        if self.tls:
            try:
                s = self._wrap(s)
            except (OSError, ValueError) as e:
                s.close()
                return self._fail(NO_ROUTE, "TLS: %s" % why(e))
        self._sock = s
        # MicroPython's sockets have write/readinto; CPython's send/recv_into (the desktop)
        self._write_fn = getattr(s, "write", None) or s.send
        self._read = getattr(s, "readinto", None) or s.recv_into
        self.connects += 1
        return None

    def _wrap(self, s):
        ssl = self.ssl
        if hasattr(ssl, "SSLContext"):  # MicroPython 1.23 and later, CPython
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.verify_mode = ssl.CERT_REQUIRED
            if self.cadata is not None:
                ctx.load_verify_locations(cadata=self.cadata)
            return ctx.wrap_socket(s, server_hostname=self.host)
        return ssl.wrap_socket(s, server_hostname=self.host)

    def _write(self, data):
        sock = self._sock
        write = self._write_fn
        if sock is None or write is None:
            raise OSError(ECONNRESET)
        sock.settimeout(self.connect_timeout_s)  # a write waits at most this long
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            n = write(view[sent:])
            if not n:
                raise OSError(ETIMEDOUT)
            sent += n
        sock.setblocking(False)  # poll() reads what is there, never waits

    def _peer_closed(self):
        """Between requests nothing should arrive: EOF means the peer closed (stale)."""
        read = self._read
        if read is None:
            return True
        try:
            n = read(self._buf)
        except OSError as e:
            return not _would_block(e)
        return n == 0


def _would_block(e):
    """Nothing to read yet: EAGAIN, or CPython's TLS asking to be called again."""
    return errno_of(e) in (EAGAIN, EINPROGRESS) or type(e).__name__ == "SSLWantReadError"
