"""The host half of a virtual board (CPython): the world the guest's firmware is wired to.

``BoardWorld`` holds one board's simulated parts — the chips of simulator/parts/board.py's
``SimEnv`` (the card reader's chip with its field of cards, the R503, the RTC on I2C, the
ST7789, the key matrix, PWMs, the ADC) on the host, on the **wall clock** —, its service console
on a pseudo-terminal, and its network: real TCP (and TLS) sockets from this process to the
receiver. The guest (simulator/vboard/guest.py) reaches them through host calls, one bus
transfer each; ``functions()`` is the table of those calls.

``run_board(world, runtime)`` boots the guest again and again: a reboot or a test-build power
cut ends a guest run and starts the next boot (a new boot ID; the flash files and the pty
stay); any other end of the guest — an exception, a trap, the interpreter's heap defect — is
printed whole and ends ``run_board`` with an error, never hidden behind a restart.

The pty: the host keeps only the master side open. Linux then reads EIO from it while no
program holds the slave open, so the host sees a client come and go: output written while no
client is there is dropped (no stale screenful for the next one), and a client that leaves
mid-line is told to the console as a hang-up (``console_read`` -> None), which drops the half
line and ends a login.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import ssl
import struct
import sys
import time
import tty
from collections.abc import Callable
from pathlib import Path

import firmware.main as _main
from hardware import profiles
from simulator.norflash import SimulatedNorFlash
from simulator.parts.board import FONT_FILE, SimEnv, font_file
from simulator.readers.field import FelicaCard

EXIT_REBOOT = 3  # guest.py's exit statuses
EXIT_POWER_CUT = 4
EXIT_STOPPED = 5  # the host asked the board to stop (Ctrl-C, SIGTERM)
PARTITIONS = (("journal", 16), ("roster", 16), ("config", 2), ("log", 4), ("bootcount", 2))
SECTOR_SIZE = 4096
PROFILE_NAMES = {"pit": "pit-s3", "bt": "bt-eth", "pit-s3": "pit-s3", "bt-eth": "bt-eth"}
KEY_HOLD_MS = 120
POWER_OFF_S = 0.5  # how long a cut board stays dark before it boots again
_NTP_DELTA = 2208988800
_MAX_CONSOLE_READ = 512  # bytes taken from the pty per turn (the console limits lines)


class BoardError(Exception):
    """The board cannot start (bad profile, directory, identity); the message says why."""


def _errno_of(e: OSError) -> int:
    if isinstance(e, socket.timeout):
        return errno.ETIMEDOUT
    if isinstance(e, socket.gaierror):
        return -2
    return e.errno or errno.EIO


def _encode(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    return v


def _decode(v):
    if isinstance(v, dict):
        if "b" in v:
            return bytearray.fromhex(v["b"])
        if "z" in v:
            return bytearray(v["z"])
    if isinstance(v, list):
        return tuple(_decode(x) for x in v)
    return v


def _methods(obj) -> list[str]:
    return [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]


class HostSocket:
    """A real TCP socket, shaped as MicroPython's (write/readinto; errors as errno)."""

    def __init__(self, world: BoardWorld):
        self.world = world
        self.sock: socket.socket | ssl.SSLSocket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.broken = False

    def _check(self) -> None:
        if self.broken or not self.world.link:
            raise OSError(errno.ECONNRESET, "link lost")

    def settimeout(self, s):
        self.sock.settimeout(s)

    def setblocking(self, flag):
        self.sock.setblocking(bool(flag))

    def connect(self, addr):
        self._check()
        self.sock.connect(tuple(addr))

    def write(self, data):
        self._check()
        try:
            return self.sock.send(data)
        except BlockingIOError:
            raise OSError(errno.EAGAIN, "would block") from None

    def readinto(self, buf):
        self._check()
        try:
            return self.sock.recv_into(buf)
        except ssl.SSLWantReadError:
            return None  # MicroPython's TLS socket: None when nothing is there
        except BlockingIOError:
            raise OSError(errno.EAGAIN, "would block") from None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class HostNtp:
    """The desk's SNTP server: the host's clock, answered to the board's request."""

    def __init__(self):
        self.asked = False

    def settimeout(self, s):
        pass

    def sendto(self, data, addr):
        self.asked = len(data) >= 48 and (data[0] & 7) == 3
        return len(data)

    def readinto(self, buf):
        if not self.asked:
            raise OSError(errno.ETIMEDOUT, "no answer")
        self.asked = False
        seconds = int(time.time()) + _NTP_DELTA
        answer = bytearray(48)
        answer[0] = 0x24  # LI 0, version 4, mode 4 (server)
        answer[1] = 2  # stratum 2
        struct.pack_into(">II", answer, 32, seconds, 0)
        struct.pack_into(">II", answer, 40, seconds, 0)
        n = min(len(buf), 48)
        buf[:n] = answer[:n]
        return n

    def close(self):
        pass


class PtyConsole:
    """The board's console on a pseudo-terminal; ``path`` is the slave's (``/dev/pts/N``).

    A thread is the master's only reader: it keeps what arrives in order, with a mark where a
    client hung up (Linux: POLLHUP on the master once no program holds the slave), so that
    ``read()`` gives the bytes sent before a hang-up, then None once, then what the next client
    sends — a client that writes a line and closes at once (``printf 'status\n' > PTY``) is
    still heard, and the half line of one that left is never joined to the next one's. At
    most ``_BUFFERED`` bytes wait here; beyond that the thread stops reading, so the pty's own
    buffer holds a flood back as a UART's FIFO would."""

    _BUFFERED = 64 * 1024

    def __init__(self):
        import threading

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)  # the master alone: POLLHUP/EIO while no client holds the slave
        os.set_blocking(self.master, False)
        self._chunks: list[bytes | None] = []  # None: a hang-up
        self._size = 0
        self._lock = threading.Lock()
        self.client = False
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="board-console", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        while not self._closed:
            if self._size >= self._BUFFERED:
                time.sleep(0.01)
                continue
            try:
                events = poller.poll(100)
            except OSError:
                return
            if not events:
                continue
            ev = events[0][1]
            data = b""
            if ev & select.POLLIN:
                try:
                    data = os.read(self.master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    data = b""
            hup = bool(ev & (select.POLLHUP | select.POLLERR))
            with self._lock:
                if data:  # with a hang-up too: the bytes the client sent before it left
                    self._chunks.append(data)
                    self._size += len(data)
                    self.client = True
                if hup:
                    if self.client:
                        self._chunks.append(None)
                    self.client = False
                elif not data:
                    self.client = True
            if hup and not data:
                time.sleep(0.01)  # nobody there: look again soon

    def read(self) -> bytes | None:
        """Bytes since the last read (at most ``_MAX_CONSOLE_READ``), or None for a hang-up."""
        with self._lock:
            out = bytearray()
            while self._chunks and len(out) < _MAX_CONSOLE_READ:
                chunk = self._chunks[0]
                if chunk is None:
                    if out:
                        break  # the bytes before the hang-up first
                    self._chunks.pop(0)
                    return None
                room = _MAX_CONSOLE_READ - len(out)
                out += chunk[:room]
                if len(chunk) > room:
                    self._chunks[0] = chunk[room:]
                else:
                    self._chunks.pop(0)
            self._size -= len(out)
            return bytes(out)

    def write(self, data: bytes) -> None:
        if not self._client_there():
            return  # nobody listening: dropped, not kept for the next one
        view = memoryview(data)
        deadline = time.monotonic() + 1.0
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # a client that reads nothing: the rest is dropped
                time.sleep(0.005)
                continue
            except OSError:
                return
            view = view[n:]

    def _client_there(self) -> bool:
        import select

        poller = select.poll()
        poller.register(self.master, 0)
        events = poller.poll(0)
        return not any(ev & select.POLLHUP for _, ev in events)

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=1)
        try:
            os.close(self.master)
        except OSError:
            pass


class BoardWorld:
    def __init__(
        self,
        profile: str,
        board_dir: Path,
        host: str,
        port: int,
        identity: tuple[str, str, bytes],
        *,
        tls: bool = False,
        cafile: str | None = None,
        test_build: bool = True,
        runtime: str = "micropython",
        log: Callable[[str], None] = print,
        heap: str = "4M",
        settings: dict | None = None,
    ):
        if profile not in PROFILE_NAMES:
            raise BoardError(f"--profile: {profile!r} is not a board profile (pit or bt)")
        self.profile = profiles.PROFILES[PROFILE_NAMES[profile]]
        self.board_dir = Path(board_dir)
        self.host, self.port = host, port
        self.identity = identity
        self.tls, self.cafile = tls, cafile
        self.test_build = test_build
        self.runtime = runtime
        self.log = log
        self.heap = heap
        self.stop_asked = False  # set from a signal handler: the guest ends at its next idle
        self.started = time.monotonic()  # the boot time counts from here (the CLI's start)
        try:
            self.board_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BoardError(f"cannot make the board's directory {board_dir}: {e.strerror}") from e
        self._provision(settings or {})
        self.env = SimEnv(self.profile, _no_service, int(time.time()), identity=identity,
                          flash_sectors=(1,) * 5)  # fmt: skip
        self.t0 = time.monotonic()
        self.link = True
        self.console = PtyConsole()
        self.handles: dict[int, object] = {}
        self._next_handle = 1
        self._due: list[tuple[int, Callable[[], None]]] = []
        self.boots = 0
        self.boot_id = 0
        self.booted_at: float | None = None  # time.monotonic() of the last ready screen
        self.sockets: list[HostSocket] = []
        self.host_calls = 0
        self.collections = 0  # the guest's collections (MicroPython), all boots

    # ------------------------------------------------------------------- setup

    def _provision(self, settings: dict) -> None:
        """Provision the configuration before the boot, as an installer does: a factory-fresh
        BT board takes a card or a finger (the terminal's default is the card alone), and
        ``settings`` (``--set KEY=VALUE``) are applied, checked as a service change is, the
        configuration's version kept. A refused value is a BoardError naming the key."""
        config = self.board_dir / "config.bin"
        values = {}
        if not config.exists() and "finger" in self.profile["parts"]:
            values["identify_mode"] = "card_or_finger"
        values.update(settings)
        if not values:
            return
        from firmware.config import Config

        flash = SimulatedNorFlash(SECTOR_SIZE, dict(PARTITIONS)["config"], path=str(config))
        try:
            cfg = Config(flash)
            cfg.load()
            problem = cfg.apply(cfg.version, values)
        finally:
            flash.close()
        if problem:
            raise BoardError(f"--set {problem}")

    def next_boot(self) -> None:
        """Before each guest run: a new boot ID; the parts power up again in the same world
        (the cards on the reader, the RTC's time, the finger module's stored templates)."""
        from simulator.remoteday import SetupError, next_boot_id

        try:
            self.boot_id = next_boot_id(str(self.board_dir))
        except SetupError as e:
            raise BoardError(str(e)) from None
        self.boots += 1
        self.handles.clear()
        for s in self.sockets:
            s.close()
        self.sockets.clear()
        self.booted_at = None
        self.started = time.monotonic() if self.boots > 1 else self.started
        self.env.lines.clear()
        self.env.i2c_buses.clear()

    def setup(self) -> dict:
        tenant, terminal, secret = self.identity
        mpy = self.runtime == "micropython"
        from dakoku.micropython import GUEST_REPO

        return {
            "profile_name": self.profile["name"],
            "tls": self.tls,
            "test_build": self.test_build,
            "host": self.host,
            "port": self.port,
            "tenant": tenant,
            "terminal": terminal,
            "secret": secret.hex(),
            "boot_id": self.boot_id,
            "flash_dir": "/" if mpy else str(self.board_dir) + "/",
            "sector_size": SECTOR_SIZE,
            "partitions": [list(p) for p in PARTITIONS],
            "font": GUEST_REPO + "/" + FONT_FILE if mpy else font_file(),
        }

    # ------------------------------------------------------------------- time

    def now_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)

    def _tick(self) -> None:
        env = self.env
        env.now = self.now_ms()
        env._sync()
        while self._due and self._due[0][0] <= env.now:
            _, action = self._due.pop(0)
            action()

    def later(self, ms: int, action: Callable[[], None]) -> None:
        self._due.append((self.now_ms() + ms, action))
        self._due.sort(key=lambda d: d[0])

    def _handle(self, obj) -> list:
        h = self._next_handle
        self._next_handle += 1
        self.handles[h] = obj
        return [h, _methods(obj)]

    # ------------------------------------------------------------------- host calls

    def functions(self) -> dict[str, Callable]:
        """The host calls the guest makes (each one first brings the world to the wall clock)."""
        table = {
            "setup": self.setup,
            "booted": self._booted,
            "collected": self._collected,
            "ticks_ms": lambda: self.env.ticks_ms(),
            "sleep_ms": self._sleep_ms,
            "open_bus": self._open_bus,
            "open_pin": lambda n, mode: self._handle(self.env.pin(n, mode)),
            "open_pwm": lambda n: self._handle(self.env.pwm(n)),
            "open_adc": lambda n: self._handle(self.env.adc(n)),
            "io": self._io,
            "link_up": lambda: self.link,
            "link_status": self._link_status,
            "getaddrinfo": self._getaddrinfo,
            "socket": self._socket,
            "tls_wrap": self._tls_wrap,
            "console_read": self._console_read,
            "console_write": self._console_write,
            "urandom": lambda n: os.urandom(n).hex(),
            "reboot": lambda: self.log(f"board {self.name}: reboot"),
            "stim_card": self.place_card,
            "stim_lift": self.lift_card,
            "stim_finger": self.place_finger,
            "stim_enrol": self.enrol_finger,
            "stim_key": self.press_key,
            "stim_network": self.set_network,
            "stim_power_cut": lambda: self.log(f"board {self.name}: power cut"),
        }

        def timed(fn):
            def call(*args, **kw):
                self.host_calls += 1
                self._tick()
                return fn(*args, **kw)

            return call

        return {name: timed(fn) for name, fn in table.items()}

    @property
    def name(self) -> str:
        return self.identity[1]

    EXIT_STOPPED = EXIT_STOPPED

    def _collected(self):
        """The guest collected between two turns (GUEST_PROGRAM): counted."""
        self.collections += 1

    def _booted(self, problems):
        self.booted_at = time.monotonic()
        for p in problems:
            self.log(f"board {self.name}: at boot: {p}")
        took = self.booted_at - self.started
        self.log(f"board {self.name}: ready (boot {self.boot_id}, {self.runtime}, {took:.1f} s)")

    def _sleep_ms(self, ms):
        """Sleep; True when the board is to stop (the guest then exits, EXIT_STOPPED)."""
        if self.stop_asked:
            return True
        if ms > 0:
            time.sleep(min(ms, 1000) / 1000)
        return self.stop_asked

    def _open_bus(self, kind, name):
        spec = self.profile["buses"][name]
        env = self.env
        try:
            if kind == "uart" and env.finger_sensor is not None:
                slot, _part = env._slot_on(name)
                if slot == "finger":  # the same module again: its templates are in its flash
                    from simulator.readers.line import SerialLine

                    line = SerialLine(env.finger_sensor, env.finger_sensor.baud)
                    line.now = env.now
                    env.lines[name] = line
                    return {"r": self._handle(line)}
            return {"r": self._handle(getattr(env, kind)(spec))}
        except OSError as e:
            return {"x": "OSError", "e": _errno_of(e), "m": str(e)}

    def _io(self, handle, method, args, kwargs):
        obj = self.handles.get(handle)
        if obj is None:
            return {"x": "OSError", "e": errno.EBADF, "m": "no such handle"}
        decoded = [_decode(a) for a in args]
        try:
            result = getattr(obj, method)(*decoded, **kwargs)
        except OSError as e:
            return {"x": "OSError", "e": _errno_of(e), "m": str(e)}
        except ValueError as e:
            return {"x": "ValueError", "m": str(e)}
        got = {"r": _encode(result)}
        if method.endswith("into"):
            for a, raw in zip(reversed(decoded), reversed(args), strict=False):
                if isinstance(raw, dict) and "z" in raw:
                    got["o"] = bytes(a).hex()
                    break
        return got

    def _link_status(self, kind):
        from simulator.parts.network import NetworkModule as N

        if kind == "wlan":
            return N.STAT_GOT_IP if self.link else N.STAT_NO_AP_FOUND
        return N.ETH_GOT_IP if self.link else N.ETH_DISCONNECTED

    def _getaddrinfo(self, host, port, kind):
        if kind == 2:  # UDP: the board asks for NTP; the desk answers from the host's clock
            return {"r": ["ntp.desk", 123]}
        if not self.link:
            return {"x": "OSError", "e": errno.EHOSTUNREACH, "m": "link down"}
        try:
            info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            return {"x": "OSError", "e": _errno_of(e), "m": str(e)}
        return {"r": list(info[0][4])}

    def _socket(self, af, kind):
        if kind == 2:
            return self._handle(HostNtp())
        s = HostSocket(self)
        self.sockets = [x for x in self.sockets if not x.broken]  # the closed ones go
        self.sockets.append(s)
        return self._handle(_SocketCalls(s))

    def _tls_wrap(self, handle, server_hostname, cadata):
        calls = self.handles.get(handle)
        if not isinstance(calls, _SocketCalls):
            return {"x": "OSError", "e": errno.EBADF, "m": "not a socket"}
        hs = calls.s
        try:
            if self.cafile:
                ctx = ssl.create_default_context(cafile=self.cafile)
            elif cadata is not None:
                data = _decode(cadata)
                ctx = ssl.create_default_context(
                    cadata=data.decode() if isinstance(data, (bytes, bytearray)) else data
                )
            else:
                ctx = ssl.create_default_context()
            hs.sock = ctx.wrap_socket(hs.sock, server_hostname=server_hostname)
        except (OSError, ValueError) as e:
            return {"x": "OSError", "e": errno.EIO, "m": str(e)}
        return {"r": [handle, _methods(calls)]}

    def _console_read(self):
        data = self.console.read()
        return None if data is None else data.hex()

    def _console_write(self, text_hex):
        self.console.write(bytes.fromhex(text_hex))

    # ------------------------------------------------------------------- stimuli

    def place_card(self, idm_hex, hold_ms=800):
        try:
            idm = bytes.fromhex(idm_hex)
            card = FelicaCard(idm=idm)
        except ValueError as e:
            return f"card: {e}"
        field = self.env.field
        field.remove()
        field.place(card)
        self.later(max(1, int(hold_ms)), lambda: field.remove(card))
        return None

    def lift_card(self):
        self.env.field.remove()
        return None

    def place_finger(self, name, quality="good", hold_ms=1500):
        sensor = self.env.finger_sensor
        if sensor is None:
            return "this board has no finger module"
        if quality not in ("good", "smudged", "disordered", "few"):
            return f"finger: quality {quality!r} is not good, smudged, disordered or few"
        sensor.place(name, quality)
        self.later(max(1, int(hold_ms)), sensor.lift)
        return None

    def enrol_finger(self, page, name):
        sensor = self.env.finger_sensor
        if sensor is None:
            return "this board has no finger module"
        if not 0 <= int(page) < sensor.capacity:
            return f"enrol: page {page} is not from 0 to {sensor.capacity - 1}"
        sensor.enrol(int(page), name)
        return None

    def press_key(self, name):
        keypad = self.env.keypad
        if keypad is None:
            return "this board has no keys"
        try:
            keypad.press(name)
        except ValueError as e:
            return str(e)
        self.later(KEY_HOLD_MS, lambda: keypad.release(name))
        return None

    def set_network(self, up):
        self.link = bool(up)
        if not self.link:
            for s in self.sockets:
                s.broken = True
                s.close()
        self.log(f"board {self.name}: network {'up' if self.link else 'down'}")
        return None

    def close(self) -> None:
        for s in self.sockets:
            s.close()
        self.console.close()


class _SocketCalls:
    """The methods the guest may call on a socket (MicroPython's names)."""

    def __init__(self, s: HostSocket):
        self.s = s

    def settimeout(self, t):
        self.s.settimeout(t)

    def setblocking(self, flag):
        self.s.setblocking(flag)

    def connect(self, addr):
        self.s.connect(addr)

    def write(self, data):
        return self.s.write(bytes(data))

    def readinto(self, buf):
        return self.s.readinto(buf)

    def close(self):
        self.s.broken = True
        self.s.close()


def _no_service(data, now_s):  # the host's SimEnv needs one; the real network is used instead
    return b""


# ----------------------------------------------------------------------- running the guest

#: The guest's program (the runner's -c). Automatic collection is off and the loop runs at
#: module level, so a collection runs with no firmware call below it: the WASI interpreter's
#: collector corrupts the heap when it runs deeper (docs/ARCHITECTURE.md). A collection right
#: after the first host calls, even from a function, was seen to corrupt it (a trap a few
#: dozen host calls later); the first one here comes only when the heap runs low.
GUEST_PROGRAM = """
import gc, sys
gc.disable()
import simulator.vboard.guest as guest
loop, board = guest.boot()
n = 0
while n != %(turns)d:
    loop.turn()
    board.idle(%(turn_ms)d)
    n += 1
    if gc.mem_free() < %(low)d:
        gc.collect()
        guest.call("collected")
"""
GC_LOW_BYTES = 1024 * 1024  # the guest collects between two turns below this much free heap
TURN_MS = _main.TURN_MS  # firmware/main.py's turn


class GuestStopped(Exception):
    """The firmware stopped for another reason than a reboot or a power cut."""


def _cpython_host_module(functions: dict[str, Callable]):
    """A ``host`` module for the guest on CPython, the same JSON in and out as the runner's."""
    import types

    module = types.ModuleType("host")

    def call(name, payload):
        try:
            request = json.loads(payload)
            value = functions[name](*request.get("args", []), **request.get("kwargs", {}))
            answer = {"ok": True, "value": value}
        except KeyError:
            answer = {"ok": False, "error": f"LookupError: no host function named {name!r}"}
        return json.dumps(answer, separators=(",", ":"))

    module.call = call  # type: ignore[attr-defined]
    return module


def run_once(world: BoardWorld, turns: int = -1) -> int:
    """One boot of the board: the guest's exit status (EXIT_REBOOT, EXIT_POWER_CUT, …)."""
    world.next_boot()
    functions = world.functions()
    if world.runtime == "cpython":
        sys.modules["host"] = _cpython_host_module(functions)
        import simulator.vboard.guest as guest

        guest.host = sys.modules["host"]  # this world's calls (an earlier import bound another)

        try:
            loop, board = guest.boot()
            n = 0
            while n != turns:
                loop.turn()
                board.idle(TURN_MS)
                n += 1
        except SystemExit as e:
            return int(e.code or 0)
        return 0
    from dakoku.micropython import shared_interpreter

    result = shared_interpreter().run(
        [
            "-X",
            "heapsize=" + world.heap,
            "-c",
            GUEST_PROGRAM % {"turns": turns, "turn_ms": TURN_MS, "low": GC_LOW_BYTES},
        ],
        scratch=world.board_dir,
        on_stdout=lambda b: sys.stdout.buffer.write(b) or sys.stdout.flush(),
        on_stderr=lambda b: sys.stderr.buffer.write(b) or sys.stderr.flush(),
        host_functions=functions,
    )
    if result.trap:
        world.log(f"board {world.name}: the interpreter trapped: {result.trap}")
    return result.exit_status


def run_board(world: BoardWorld, boots: int = -1) -> int:
    """Boot the board until it stops for a reason other than a reboot or power cut (or
    ``boots`` boots have ended); the last exit status."""
    n = 0
    while True:
        status = run_once(world)
        n += 1
        if status == EXIT_STOPPED:
            world.log(f"board {world.name}: stopped")
            return status
        if status not in (EXIT_REBOOT, EXIT_POWER_CUT):
            world.log(f"board {world.name}: the firmware stopped (exit status {status})")
            return status
        if 0 <= boots <= n:
            return status
        if status == EXIT_POWER_CUT:
            time.sleep(POWER_OFF_S)
