"""A board with a service console for tests: the real loop, a fake board, a receiver in memory.

``Desk`` runs ``firmware.main.Loop`` on ``DeskBoard``: flash on simulated NOR chips (kept across
:meth:`Desk.reboot`), a receiver in memory (protocol.server over protocol.memstore), a reader
and keys fed by the console's stimuli, and the console's byte stream in two buffers. MicroPython
compatible (the tests of tests/terminal/test_console.py run on both runtimes).
"""

from support import IS_MICROPYTHON
from test_main import FakeBoard

from firmware.main import Loop
from firmware.terminal import Card, Finger
from protocol.memstore import MemoryStore
from protocol.server import Server
from simulator.door import SECRET, TENANT, TERMINAL, add_employees
from simulator.norflash import SimulatedNorFlash

PIN = "2468"
KEYMAP = ("in", "out", "break_start", "break_end", "service", "ok", "cancel", "del", "0", "1",
          "2", "3", "4", "5", "6", "7", "8", "9")  # fmt: skip


class PowerCut(BaseException):
    """The stimulus cut the power: the loop stops where it was (not an Exception: the console
    lets it through, as a real power cut would not wait for it)."""


class Stimuli:
    """What the console's test commands call; every call is kept in ``calls``."""

    def __init__(self, board):
        self.board = board
        self.calls = []

    def card(self, idm, hold_ms):
        self.calls.append(("card", idm, hold_ms))
        self.board.events.append(Card(idm))
        return None

    def lift(self):
        self.calls.append(("lift",))
        return None

    def finger(self, name, quality, hold_ms):
        self.calls.append(("finger", name, quality, hold_ms))
        if name == "nobody":
            return "no finger 'nobody' in the simulated module"
        self.board.events.append(Finger("match" if quality == "good" else "poor", 7))
        return None

    def enrol(self, page, name):
        self.calls.append(("enrol", page, name))
        return None

    def key(self, name):
        self.calls.append(("key", name))
        if name not in KEYMAP:
            return "no key '%s' in the keymap" % name
        self.board.keys.append(name)
        return None

    def network(self, up):
        self.calls.append(("network", up))
        self.board.network = up
        return None

    def power_cut(self, after_writes=0):
        if after_writes:  # armed for a later flash write: the virtual board cuts there
            self.calls.append(("power_cut_armed", after_writes))
            return None
        self.calls.append(("power_cut", bytes(self.board.written)))
        raise PowerCut()


class DeskBoard(FakeBoard):
    """test_main.py's fake board with a console, stimuli, and a reader and keys fed by them."""

    name = "desk"

    def __init__(self, server, flashes, boot_id, test_build=True):
        FakeBoard.__init__(self, server, {})
        self.flashes = flashes
        self._boot_id = boot_id
        # The last screen, as hardware/board.py keeps it (FakeBoard keeps a list of them).
        self.shown = ((), "")  # type: ignore[assignment]
        self.faults = []  # type: list  # what failed since boot (hardware/board.py's)
        self.events = []  # reader events, one a turn
        self.keys = []
        self.inbox = []  # what console_read returns, one item a call (bytes or None)
        self.written = bytearray()  # what the console wrote
        self.reads = 0
        self.broken = ""  # "read" or "write": that side of the stream raises OSError
        self.stimuli = Stimuli(self) if test_build else None

    def console_read(self):
        self.reads += 1
        if self.broken == "read":
            raise OSError(5, "EIO")
        if self.inbox:
            return self.inbox.pop(0)
        return b""

    def console_write(self, data):
        assert isinstance(data, bytes)
        if self.broken == "write":
            raise OSError(5, "EIO")
        self.written += data

    def boot_id(self):
        return self._boot_id

    def reader_poll(self, now):
        return self.events.pop(0) if self.events else None

    def key_poll(self, now):
        return self.keys.pop(0) if self.keys else None

    def show(self, lines, style):
        self.shown = (tuple(lines), style)  # type: ignore[assignment]

    def net_detail(self):
        return "link up" if self.network else "no link"


def flashes():
    return (
        SimulatedNorFlash(1024, 8),  # journal
        SimulatedNorFlash(1024, 16),  # roster
        SimulatedNorFlash(1024, 2),  # config
        SimulatedNorFlash(1024, 4),  # event log: 28 events
        SimulatedNorFlash(1024, 2),  # boot counter
    )


class Desk:
    def __init__(self, test_build=True, pin=PIN, employees=5, values=None):
        self.store = MemoryStore()
        self.store.add_tenant(TENANT)
        self.store.add_terminal(TENANT, TERMINAL, SECRET)
        add_employees(self.store, employees)
        self.server = Server(self.store)
        self.flashes = flashes()
        provisioned = dict(values or {})
        if pin is not None:
            provisioned["service_pin"] = pin
        if provisioned:  # before the first boot, as an installer does
            from firmware.config import Config

            c = Config(self.flashes[2])
            c.load()
            assert c.apply(0, provisioned) is None
        if IS_MICROPYTHON:
            # The test interpreter's collector corrupts its heap (docs/ARCHITECTURE.md, "Known
            # defect of the test interpreter"); a collection called from inside a test's
            # frames did too (garbled TypeErrors, "NotImplementedError: opcode", seen here on
            # 2026-12-01). So none at all: a test's whole run fits the 32 MB guest heap, and
            # running out would be a MemoryError, never a silent pass.
            import gc

            gc.disable()
        self.test_build = test_build
        self.boots = 1
        self.board = DeskBoard(self.server, self.flashes, self.boots, test_build)
        self.loop = Loop(self.board)

    def boot(self):
        """Power on again: a new board on the same flash, its clock going on."""
        self.boots += 1
        now = self.board.now
        self.board = DeskBoard(self.server, self.flashes, self.boots, self.test_build)
        self.board.now = now
        self.loop = Loop(self.board)

    @property
    def stimuli(self):
        stimuli = self.board.stimuli
        assert stimuli is not None
        return stimuli

    @property
    def console(self):
        console = self.loop.console
        assert console is not None
        return console

    def turns(self, n=1, ms=20):
        """``n`` turns of the loop, ``ms`` apart."""
        for _ in range(n):
            self.loop.turn()
            self.board.idle(ms)

    def wait(self, ms):
        """Time passes: a turn a second (the loop after a long idle, as a board sleeps)."""
        self.turns(ms // 1000, 1000)

    def settle(self, n=60):
        """Hello and the roster (a few turns of the network)."""
        self.turns(n)

    def send(self, data):
        """Bytes (or text) arrive at the console, all in one read."""
        self.board.inbox.append(data.encode() if isinstance(data, str) else data)

    def output(self):
        """Everything written since the last call, as lines."""
        text = bytes(self.board.written).decode()
        self.board.written = bytearray()
        assert text == "" or text.endswith("\r\n"), text
        return text.split("\r\n")[:-1]

    def ask(self, line, turns=12):
        """One command: its reply lines, the final line last."""
        self.output()
        self.send(line + "\r\n")
        self.turns(turns)
        out = self.output()
        assert out and finals(out) == 1, out
        return out


def is_final(line):
    return line == "ok" or line.startswith("ok: ") or line.startswith("error: ")


def finals(lines):
    return len([x for x in lines if is_final(x)])
