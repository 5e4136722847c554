"""A simulated network for hardware/net.py (MicroPython-compatible): MicroPython's ``network``
(a Wi-Fi station or a wired LAN interface), ``socket`` and ``ssl`` modules over one
``SimNetwork``, whose service is a function (request bytes, virtual ms) -> answer bytes (the
protocol's in-memory server, or a real receiver over TCP on the desktop).

Faults, as the link layer shows them to the board:

- ``net.link``: "up", "wrong_password", "no_ap", "unplugged" (interface down: the board sees
  ``isconnected()`` False and the status constant of that case);
- ``net.dns_fails``: the name does not resolve (``getaddrinfo`` raises OSError(-2));
- ``net.connect``: "ok", "refused" (ECONNREFUSED), "unreachable" (EHOSTUNREACH), "timeout"
  (ETIMEDOUT after the socket's timeout);
- ``net.answer``: "ok", "silent" (the request is taken, nothing comes back), "reset" (the
  connection is reset when read), "close" (closed without an answer);
- ``net.latency_ms``: how long an answer takes (longer than the client waits: it arrives
  late, on a connection the client may reuse);
- ``net.tls_names``: the names the server's certificate holds (a TLS client asking for
  another name fails its handshake); ``net.ntp_epoch()`` answers SNTP.

Answers are whole HTTP messages; a request is complete when its headers and
``Content-Length`` bytes are in. A server's keep-alive is modelled: ``net.keep_alive_ms``
after an answer, the server closes the idle connection.
"""

EAGAIN = 11
ECONNRESET = 104
ETIMEDOUT = 110
ECONNREFUSED = 111
EHOSTUNREACH = 113
NTP_DELTA = 2208988800


class SimNetwork:
    def __init__(self, service, clock, host="receiver.example", port=443):
        self.service = service  # (request bytes, now ms) -> answer bytes
        self.clock = clock
        self.host = host
        self.port = port
        self.link = "up"
        self.dns_fails = False
        self.connect = "ok"
        self.answer = "ok"
        self.tls_names = (host,)
        self.keep_alive_ms = 5000
        self.latency_ms = 0  # an answer arrives this long after its request
        self.epoch0 = 0  # the network's UTC at clock 0 (for SNTP)
        self.ntp_works = True
        self.requests = 0
        self.connections = 0

    def ntp_epoch(self):
        return self.epoch0 + self.clock() // 1000


class _Interface:
    def __init__(self, net, module):
        self.net = net
        self.module = module
        self._active = True

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        return None

    def isconnected(self):
        return self._active and self.net.link == "up"


class WLAN(_Interface):
    def status(self, param=None):
        m = self.module
        link = self.net.link
        if not self._active:
            return m.STAT_IDLE
        if link == "up":
            return m.STAT_GOT_IP
        if link == "wrong_password":
            return m.STAT_WRONG_PASSWORD
        if link == "no_ap":
            return m.STAT_NO_AP_FOUND
        return m.STAT_CONNECT_FAIL


class LAN(_Interface):
    def status(self):
        m = self.module
        if self.net.link == "up":
            return m.ETH_GOT_IP
        if self.net.link == "unplugged":
            return m.ETH_DISCONNECTED
        return m.ETH_STARTED


class NetworkModule:
    """MicroPython's ``network`` (the ESP32 port's constants)."""

    STA_IF = 0
    STAT_IDLE = 1000
    STAT_CONNECTING = 1001
    STAT_GOT_IP = 1010
    STAT_NO_AP_FOUND = 201
    STAT_WRONG_PASSWORD = 202
    STAT_CONNECT_FAIL = 203
    ETH_INITIALIZED = 0
    ETH_STARTED = 1
    ETH_STOPPED = 2
    ETH_CONNECTED = 3
    ETH_DISCONNECTED = 4
    ETH_GOT_IP = 5

    def __init__(self, net):
        self.net = net

    def WLAN(self, interface=0):
        return WLAN(self.net, self)

    def LAN(self, **kw):
        return LAN(self.net, self)


class SimSocket:
    def __init__(self, net, kind):
        self.net = net
        self.kind = kind  # 1 stream, 2 datagram
        self.blocking = True
        self.timeout_s = None
        self.connected = False
        self.closed = False
        self._out = bytearray()
        self._in = bytearray()
        self._eof = False
        self._reset = False
        self._idle_since = None
        self._later = []  # (ready ms, answer) not arrived yet
        self.tls_host = None

    def settimeout(self, s):
        self.timeout_s = s
        self.blocking = s is None or s > 0

    def setblocking(self, flag):
        self.blocking = bool(flag)

    def connect(self, addr):
        net = self.net
        if net.link != "up":
            raise OSError(EHOSTUNREACH)
        if net.connect == "refused":
            raise OSError(ECONNREFUSED)
        if net.connect == "unreachable":
            raise OSError(EHOSTUNREACH)
        if net.connect == "timeout":
            raise OSError(ETIMEDOUT)
        self.connected = True
        net.connections += 1

    def write(self, data):
        if self.closed or not self.connected:
            raise OSError(ECONNRESET)
        if self._eof:  # the server closed: the write goes nowhere (an RST comes later)
            return len(data)
        self._out += bytes(data)
        self._maybe_answer()
        return len(data)

    send = write

    def _maybe_answer(self):
        head_end = self._out.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = 0
        for line in bytes(self._out[:head_end]).split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        total = head_end + 4 + length
        if len(self._out) < total:
            return
        request = bytes(self._out[:total])
        self._out = self._out[total:]
        net = self.net
        net.requests += 1
        if net.answer == "silent":
            return
        if net.answer == "reset":
            self._reset = True
            return
        if net.answer == "close":
            self._eof = True
            return
        self._later.append((net.clock() + net.latency_ms, net.service(request, net.clock())))
        self._idle_since = None

    def readinto(self, buf):
        if self.closed:
            raise OSError(9)
        if self._reset:
            self._reset = False
            self.closed = True
            raise OSError(ECONNRESET)
        if self.kind == 2:
            return self._datagram(buf)
        while self._later and self._later[0][0] <= self.net.clock():
            self._in += self._later.pop(0)[1]
        if not self._in:
            if self._later:  # an answer is on its way: the server keeps the connection
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = self.net.clock()
            idle = self._idle_since
            if idle is not None and self.net.clock() - idle >= self.net.keep_alive_ms:
                self._eof = True
            if self._eof:
                return 0
            if self.blocking:
                raise OSError(ETIMEDOUT)
            if self.tls_host is not None:
                return None  # MicroPython's TLS socket: None when nothing is there
            raise OSError(EAGAIN)
        n = min(len(buf), len(self._in))
        buf[:n] = self._in[:n]
        self._in = self._in[n:]
        if not self._in:
            self._idle_since = self.net.clock()
        return n

    def recv(self, n):
        buf = bytearray(n)
        got = self.readinto(buf)
        return None if got is None else bytes(buf[:got])

    def sendto(self, data, addr):
        self._out = bytearray(data)

    def _datagram(self, buf):
        net = self.net
        if not net.ntp_works or net.link != "up" or len(self._out) < 48:
            raise OSError(ETIMEDOUT)
        seconds = net.ntp_epoch() + NTP_DELTA
        answer = bytearray(48)
        answer[0] = 0x24  # LI 0, version 4, mode 4 (server)
        answer[1] = 2  # stratum
        for i in range(4):
            answer[40 + i] = (seconds >> (24 - 8 * i)) & 0xFF
        n = min(48, len(buf))
        buf[:n] = answer[:n]
        return n

    def close(self):
        self.closed = True


class SocketModule:
    AF_INET = 2
    SOCK_STREAM = 1
    SOCK_DGRAM = 2

    def __init__(self, net):
        self.net = net

    def getaddrinfo(self, host, port, af=0, kind=0):
        if self.net.dns_fails or self.net.link != "up":
            raise OSError(-2)
        return [(2, kind or 1, 0, "", ("10.0.0.2", port))]

    def socket(self, af=2, kind=1, proto=0):
        return SimSocket(self.net, kind)


class SslModule:
    """``ssl`` with MicroPython 1.23's ``SSLContext``: the handshake checks the name."""

    PROTOCOL_TLS_CLIENT = 16
    CERT_REQUIRED = 2

    def __init__(self, net):
        self.net = net

    def SSLContext(self, protocol):
        return _Context(self.net)


class _Context:
    def __init__(self, net):
        self.net = net
        self.verify_mode = 0

    def wrap_socket(self, sock, server_hostname=None):
        if server_hostname not in self.net.tls_names:
            text = "certificate verify failed: %r is not a name in it" % server_hostname
            raise OSError(text)
        sock.tls_host = server_hostname
        return sock
