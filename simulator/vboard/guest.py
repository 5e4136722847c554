"""The guest half of a virtual board (MicroPython, and CPython for ``--runtime cpython``).

It runs the real firmware (firmware/main.py's ``Loop``) on the real board class
(hardware/board.py's ``Board``) with the real drivers, over an ``env`` whose buses, pins, clock,
network and console are **proxies**: every bus transfer crosses the guest boundary to the host
(simulator/vboard/host.py) byte by byte, where the simulated chips answer. The flash partitions
are files in the board's directory (the guest's ``/`` on MicroPython), written through at every
program, so a board killed at any moment keeps what it had written.

The crossing is ``host.call(name, json)`` (the runner's host-call bridge,
tools/dakoku/micropython.py; on CPython a module of the same shape that calls the host
directly). Bytes go as hex: ``{"b": "0a0b"}``; an output buffer of a ``*into`` method goes as
its length, ``{"z": n}``, and comes back filled (``"o"``). A host-side OSError comes back as
its errno and is raised here as ``OSError(errno)``, as a real bus or socket would.

The collector: the WASI interpreter's garbage collector corrupts the heap when it runs deep in
C code (docs/ARCHITECTURE.md, "Known defect of the test interpreter"). So automatic collection
is off, and the guest's program (``GUEST_PROGRAM`` in simulator/vboard/host.py) runs the loop
at module level and collects there, between two turns, when less than ``GC_LOW_BYTES`` are
free; nothing else collects. ``boot()`` builds the board and its firmware loop.
"""

import json
import sys
from binascii import hexlify, unhexlify

import host

from simulator.parts.network import NetworkModule as _SimNetworkModule

EXIT_REBOOT = 3  # the guest's exit status when the firmware reboots the board
EXIT_POWER_CUT = 4  # ... when the console's test-build "power cut" cuts its power
EXIT_STOPPED = 5  # ... when the host stops the board (Ctrl-C)


class HostError(Exception):
    """The host side failed (a defect of the virtual board, said, never hidden)."""


def call(name, *args):
    answer = json.loads(host.call(name, json.dumps({"args": args})))
    if not answer["ok"]:
        raise HostError(answer["error"])
    return answer["value"]


def _is_buffer(v):
    return isinstance(v, (bytes, bytearray, memoryview))


def _encode(args, out_last):
    """Arguments as JSON values; the last buffer of a ``*into`` call goes as its length."""
    last = -1
    if out_last:
        for i in range(len(args)):
            if _is_buffer(args[i]):
                last = i
    enc = []
    for i in range(len(args)):
        v = args[i]
        if i == last:
            enc.append({"z": len(v)})
        elif _is_buffer(v):
            enc.append({"b": hexlify(v).decode()})
        elif isinstance(v, tuple):
            enc.append(list(v))
        else:
            enc.append(v)
    return enc, last


def _decode(v):
    if isinstance(v, dict) and "b" in v:
        return unhexlify(v["b"])
    return v


def _raise(err):
    if err["x"] == "OSError":  # with the host's words where they say more than the errno
        raise OSError(err["e"], err["m"]) if err.get("m") else OSError(err["e"])
    if err["x"] == "ValueError":
        raise ValueError(err["m"])
    raise HostError(err["x"] + ": " + err["m"])


class Remote:
    """A host-side object (a bus, a pin, a socket) seen from the guest: its methods, no more
    (so ``hasattr`` tells what the host object has, as on a device)."""

    def __init__(self, handle, methods):
        self._handle = handle
        self._methods = methods

    def __getattr__(self, name):
        if name not in self._methods:
            raise AttributeError(name)
        handle = self._handle
        out_last = name.endswith("into")

        def method(*args, **kw):
            enc, last = _encode(args, out_last)
            got = call("io", handle, name, enc, kw)
            if "x" in got:
                _raise(got)
            if last >= 0 and "o" in got:
                data = unhexlify(got["o"])
                args[last][: len(data)] = data
            return _decode(got["r"])

        return method


def _remote(opened):
    return Remote(opened[0], opened[1])


class _Iface:
    """network.WLAN / network.LAN: up or down as the host's link is (``net down|up``)."""

    def __init__(self, kind):
        self.kind = kind

    def active(self, on=None):
        return True

    def isconnected(self):
        return call("link_up")

    def status(self, param=None):
        return call("link_status", self.kind)  # the host answers with those constants

    def ifconfig(self):
        return ("10.0.0.2", "255.255.255.0", "10.0.0.1", "10.0.0.1")


class NetworkModule(_SimNetworkModule):
    """MicroPython's network module: the ESP32 port's constants (simulator/parts/network.py),
    the interfaces up or down as the host's link is."""

    def __init__(self):
        pass

    def WLAN(self, interface=0):
        return _Iface("wlan")

    def LAN(self, **kw):
        return _Iface("lan")


class SocketModule:
    """MicroPython's socket module, each socket a real one on the host."""

    AF_INET = 2
    SOCK_STREAM = 1
    SOCK_DGRAM = 2

    def getaddrinfo(self, host_name, port, af=0, kind=0):
        got = call("getaddrinfo", host_name, port, kind)
        if "x" in got:
            _raise(got)
        return [(self.AF_INET, kind, 0, "", tuple(got["r"]))]

    def socket(self, af=2, kind=1):
        return _remote(call("socket", af, kind))


class _Context:
    def __init__(self, protocol):
        self.verify_mode = 2
        self.cadata = None

    def load_verify_locations(self, cadata=None):
        self.cadata = cadata

    def wrap_socket(self, sock, server_hostname=None):
        cadata = self.cadata
        if cadata is not None and not isinstance(cadata, str):
            cadata = {"b": hexlify(cadata).decode()}
        got = call("tls_wrap", sock._handle, server_hostname, cadata)
        if "x" in got:
            _raise(got)
        return _remote(got["r"])


class SslModule:
    """MicroPython's ssl module (1.23 and later): TLS done by the host's ssl on the socket."""

    PROTOCOL_TLS_CLIENT = 0
    CERT_REQUIRED = 2

    def SSLContext(self, protocol):
        return _Context(protocol)


class Stimuli:
    """The test build's stimuli (firmware/console.py): the world around the board moves."""

    def card(self, idm, hold_ms=800):
        return call("stim_card", hexlify(idm).decode(), hold_ms)

    def lift(self):
        return call("stim_lift")

    def finger(self, name, quality="good", hold_ms=1500):
        return call("stim_finger", name, quality, hold_ms)

    def enrol(self, page, name):
        return call("stim_enrol", page, name)

    def key(self, name):
        return call("stim_key", name)

    def network(self, up):
        return call("stim_network", bool(up))

    def power_cut(self, after_writes=0):
        """Cut the power now, or (``after_writes``) just before the board's Nth flash write
        from now: a program or an erase of any partition, torn where it falls."""
        if after_writes:
            _CUT[0] = after_writes
            return None
        call("stim_power_cut")
        sys.exit(EXIT_POWER_CUT)


_CUT = [0]  # flash writes left before an armed power cut (0: none armed)


def _count_write():
    left = _CUT[0]
    if left:
        _CUT[0] = left - 1
        if left == 1:
            call("stim_power_cut")
            sys.exit(EXIT_POWER_CUT)


class RemoteEnv:
    """hardware/board.py's ``env`` with every part on the host (see the module's text)."""

    def __init__(self, setup):
        from hardware.font import FileFlash

        self.setup = setup
        self._font = FileFlash(setup["font"])
        self.network = NetworkModule()
        self.socket = SocketModule()
        self.ssl = SslModule() if setup["tls"] else None
        self.stimuli = Stimuli() if setup["test_build"] else None
        if setup.get("cadata"):
            self.cadata = setup["cadata"]
        self._flashes = None

    # -- time, buses and pins: on the host ------------------------------------------------
    def ticks_ms(self):
        return call("ticks_ms")

    def sleep_ms(self, ms):
        if call("sleep_ms", ms):  # the host stops the board: between two turns
            sys.exit(EXIT_STOPPED)

    def uart(self, spec):
        return self._open("uart", spec)

    def i2c(self, spec):
        return self._open("i2c", spec)

    def spi(self, spec):
        return self._open("spi", spec)

    def _open(self, kind, spec):
        got = call("open_bus", kind, self._bus_name(spec))
        if "x" in got:
            _raise(got)
        return _remote(got["r"])

    def _bus_name(self, spec):
        buses = self.setup["profile"]["buses"]
        for name in buses:
            if buses[name] is spec:
                return name
        raise ValueError("not a bus of this profile")

    def pin(self, number, mode):
        return _remote(call("open_pin", number, mode))

    def pwm(self, number):
        return _remote(call("open_pwm", number))

    def adc(self, number):
        return _remote(call("open_adc", number))

    def interface(self, spec):
        return self.network.WLAN() if spec["part"] == "wlan" else self.network.LAN()

    def receiver(self):
        return self.setup["host"], self.setup["port"]

    def font_flash(self, path):
        return self._font

    # -- the console: a pty on the host ---------------------------------------------------
    def console_read(self):
        got = call("console_read")
        return None if got is None else unhexlify(got)

    def console_write(self, data):
        call("console_write", hexlify(data).decode())

    # -- flash, identity, boot --------------------------------------------------------------
    def partitions(self):
        if self._flashes is None:
            from simulator.norflash import SimulatedNorFlash

            class FileFlash(SimulatedNorFlash):
                def _store(self, addr, data):  # written through: a kill keeps what was written
                    SimulatedNorFlash._store(self, addr, data)
                    self._file.flush()

                def program(self, addr, data):
                    _count_write()
                    return SimulatedNorFlash.program(self, addr, data)

                def erase(self, sector):
                    _count_write()
                    return SimulatedNorFlash.erase(self, sector)

            setup = self.setup
            size = setup["sector_size"]
            self._flashes = tuple(
                FileFlash(size, n, path=setup["flash_dir"] + name + ".bin")
                for name, n in setup["partitions"]
            )
        return self._flashes

    def identity(self):
        s = self.setup
        return s["tenant"], s["terminal"], unhexlify(s["secret"])

    def boot_id(self):
        return self.setup["boot_id"]

    def urandom(self, n):
        return unhexlify(call("urandom", n))

    def reset(self):
        call("reboot")
        sys.exit(EXIT_REBOOT)


def _profile(setup):
    from hardware import profiles

    profile = profiles.PROFILES[setup["profile_name"]]
    if "network" in profile["parts"]:  # TLS follows the receiver URL (http:// or https://)
        parts = dict(profile["parts"])
        net = dict(parts["network"])
        net["tls"] = setup["tls"]
        parts["network"] = net
        profile = dict(profile)
        profile["parts"] = parts
    return profile


def boot():
    """Boot the board the host describes: (loop, board), the firmware's loop ready to turn."""
    from firmware.main import Loop
    from hardware.board import Board

    setup = call("setup")
    setup["profile"] = _profile(setup)
    env = RemoteEnv(setup)
    board = Board(setup["profile"], env)
    loop = Loop(board)
    call("booted", list(board.problems))
    return loop, board
