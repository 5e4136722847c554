"""Outside checks of the board's parts (CPython): the RTC's calendar against ``datetime``; the
network link and the whole board (hardware/board.py on the PiT profile, firmware/main.py's loop)
over CPython's real ``socket`` and ``ssl`` to the reference receiver over TLS on 127.0.0.1; and
a hypothesis state machine over the key matrix's debounce with chattering contacts."""

from __future__ import annotations

import datetime
import ssl
import time
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from firmware.main import Loop
from hardware.keys import KeyMatrix
from hardware.profiles import PIT
from hardware.rtc import DS3231, civil_from_days, days_from_civil
from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore
from simulator.door import EPOCH, SECRET, TENANT, TERMINAL, add_employees, card_of
from simulator.parts.board import SimEnv
from simulator.parts.i2c import DS3231Chip, SimI2CBus
from simulator.parts.pins import SimKeyMatrix
from simulator.parts.standins import TextDisplay
from simulator.readers.field import FelicaCard


def test_the_rtc_calendar_agrees_with_datetime_over_the_chips_century():
    day = datetime.date(2000, 1, 1)
    end = datetime.date(2100, 1, 1)
    epoch_day = datetime.date(1970, 1, 1)
    while day < end:
        n = (day - epoch_day).days
        assert days_from_civil(day.year, day.month, day.day) == n
        assert civil_from_days(n) == (day.year, day.month, day.day)
        day += datetime.timedelta(days=1)


def test_the_ds3231_registers_are_what_datetime_says():
    bus = SimI2CBus()
    chip = bus.attach(DS3231Chip(None))
    rtc = DS3231(bus)
    when = int(datetime.datetime(2028, 2, 29, 23, 59, 58, tzinfo=datetime.UTC).timestamp())
    assert rtc.set_epoch(when)
    assert bytes(chip.regs[0:7]) == bytes([0x58, 0x59, 0x23, 2, 0x29, 0x02, 0x28])  # Tuesday


# ------------------------------------------------------- the board over real sockets and TLS


class UpInterface:
    def isconnected(self):
        return True

    def status(self):
        return 3


class DesktopEnv(SimEnv):
    """The PiT profile's simulated parts, but its network is the desktop's own: CPython's
    socket and ssl modules to a receiver on 127.0.0.1."""

    def __init__(self, address, cadata, **kw):
        super().__init__(PIT, lambda data, now: b"", EPOCH, **kw)
        import socket as real_socket

        self.socket = real_socket
        self.ssl = ssl
        self.address = address
        self.cadata = cadata

    def interface(self, spec):
        return UpInterface()

    def receiver(self):
        return self.address


def test_the_pit_board_uploads_through_cpythons_socket_and_ssl_to_the_receiver(
    tmp_path, certificate
):
    from hardware.board import Board

    key, cert = certificate()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(cert), str(key))
    store = SqlStore.open(str(tmp_path / "r.db"), clock=lambda: EPOCH)
    try:
        store.add_tenant(TENANT, "Acme", day_start_hour=5)
        store.add_terminal(TENANT, TERMINAL, SECRET, label="door")
        add_employees(store, 3)
        env: DesktopEnv | None = None

        def clock() -> int:
            return env.service_time() if env is not None else EPOCH

        with RunningReceiver(store, clock=clock, ssl_context=server_ctx) as running:
            env = DesktopEnv(running.receiver.address, Path(cert).read_text())
            board = Board(PIT, env, {"display": TextDisplay()})
            env.ntp_epoch = None
            loop = Loop(board)
            card = env.field.place(FelicaCard(card_of(1)))
            for _ in range(3000):  # virtual time, but the network is real: it is waited for
                loop.turn()
                board.idle(20)
                if loop.in_flight is not None:
                    time.sleep(0.002)
                if env.now == 1000:
                    env.field.remove(card)
                if loop.journal.next_seq > 1 and loop.journal.unsent_count == 0:
                    break
            log = [e["text"] for e in loop.log.events(0, 100)]
            assert loop.journal.next_seq == 2 and loop.journal.unsent_count == 0, log
            assert sorted(store.held(TENANT, TERMINAL)) == [1]
            assert board.network.tls and board.network.connects >= 1
            board.network.cadata = None  # the board's default trust: a self-signed cert fails
            board.network.close()
            assert board.net_send(b"GET / HTTP/1.1\r\n\r\n") == "no_route"
            assert board.net_detail().startswith("TLS: ") and "CERTIFICATE" in board.net_detail()
    finally:
        store.close()


# ------------------------------------------------------------------ debounce, stateful

KEYMAP = (("in", "out", "service"), ("ok", "cancel", None))
NAMES = [k for row in KEYMAP for k in row if k is not None]
DEBOUNCE = 30
BOUNCE = 6
SCAN = 2


class Now:
    def __init__(self):
        self.ms = 0

    def __call__(self):
        return self.ms


class DebounceMachine(RuleBasedStateMachine):
    """Whatever is pressed, released and for how long: a key is reported only while it is
    the only key down and has been down DEBOUNCE ms; once per press; and a key pressed alone
    and held alone long enough is always reported."""

    def __init__(self):
        super().__init__()
        self.now = Now()
        self.sim = SimKeyMatrix((1, 2), (3, 4, 5), KEYMAP, self.now, BOUNCE)
        self.keys = KeyMatrix(self.sim.rows, self.sim.cols, KEYMAP, DEBOUNCE)
        self.down: dict[str, int] = {}  # key -> press time
        self.alone: set[str] = set()  # pressed with nothing else down, nothing else since
        self.reported: set[str] = set()  # keys reported during their current press

    @rule(key=st.sampled_from(NAMES))
    def press(self, key):
        if key in self.down:
            return
        self.alone = {key} if not self.down else set()
        self.down[key] = self.now.ms
        self.sim.press(key)

    @rule(key=st.sampled_from(NAMES))
    def release(self, key):
        if key not in self.down:
            return
        del self.down[key]
        self.alone.discard(key)
        self.reported.discard(key)
        self.sim.release(key)

    @rule(ms=st.integers(1, 120))
    def wait(self, ms):
        end = self.now.ms + ms
        while self.now.ms < end:
            got = self.keys.poll(self.now.ms)
            if got is not None:
                assert list(self.down) == [got], (got, self.down)
                assert self.now.ms - self.down[got] >= DEBOUNCE
                assert got not in self.reported, "reported twice in one press"
                self.reported.add(got)
            self.now.ms += SCAN
        for key in self.alone:
            if self.now.ms - self.down[key] > DEBOUNCE + BOUNCE + 2 * SCAN:
                assert key in self.reported, (key, self.down[key], self.now.ms)


DebounceMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_debounce_machine = DebounceMachine.TestCase


# ------------------------------------------------------------- the door day on each profile


def test_the_door_day_on_each_profile_delivers_every_punch_once(tmp_path):
    from PIL import Image

    from firmware.punch import KIND_CLOCK_OUT, METHOD_FINGER
    from hardware.profiles import BT
    from hardware.st7789 import COLOURS
    from simulator.boardday import BoardDay
    from simulator.display import rgb888

    lines: list[str] = []
    for profile in (PIT, BT):
        day = BoardDay(profile, people=6, idle_ms=10_000)
        assert day.day(lines.append), lines
        journal = day.loop.journal
        punches = [journal.read(s) for s in range(1, journal.next_seq)]
        assert len(punches) == 12
        offline = [p for p in punches if p.flags & 1]
        assert offline, "the outage during departures stored punches offline"
        if profile is BT:
            assert sum(p.method == METHOD_FINGER for p in punches) == 4  # 2 and 5, twice each
            assert sum(p.kind == KIND_CLOCK_OUT for p in punches) == 6  # the "out" key
        # The last feedback screen, as the ST7789 driver drew it on the simulated panel.
        assert day.feedback is not None
        (lines_shown, style), _ram, _madctl = day.feedback
        png = tmp_path / f"{profile['name']}.png"
        day.write_feedback_png(str(png), scale=1)
        with Image.open(png) as image:
            assert image.size == (320, 240)
            colours = {c for _n, c in image.getcolors(4096)}
        assert rgb888(COLOURS[style]) in colours, (style, lines_shown)  # the style's text
    assert any("Wi-Fi: no access point found" in line for line in lines), lines
    assert any("LAN: cable unplugged" in line for line in lines), lines


# ------------------------------------------------------------- the network link, stateful

REQUEST = b"POST /v1/punches HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\n\r\nhi"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
FAULTS = {
    "link": ["up", "wrong_password", "no_ap"],
    "dns_fails": [False, True],
    "connect": ["ok", "refused", "unreachable", "timeout"],
    "answer": ["ok", "silent", "reset", "close"],
}


class NetLinkMachine(RuleBasedStateMachine):
    """Whatever the link layer does between requests: ``send`` returns None or one of MNG-04's
    classes with a detail and never raises; ``poll`` returns bytes, b"" or None, or raises
    OSError; no answer comes that was not asked for; once every fault is healed, the next
    exchange gets its answer."""

    def __init__(self):
        super().__init__()
        from hardware.net import NetLink
        from simulator.parts.network import NetworkModule, SimNetwork, SocketModule, SslModule

        self.now = Now()
        self.net = SimNetwork(lambda data, now: ANSWER, self.now)
        module = NetworkModule(self.net)
        self.link = NetLink(
            module.WLAN(0), module, SocketModule(self.net), self.net.host, 443,
            SslModule(self.net), True,
        )  # fmt: skip
        self.sent = 0
        self.answers = 0

    @rule(what=st.sampled_from(sorted(FAULTS)), data=st.data())
    def fault(self, what, data):
        setattr(self.net, what, data.draw(st.sampled_from(FAULTS[what])))

    @rule()
    def send(self):
        from protocol.client import NO_LINK, NO_ROUTE, TIMEOUT

        error = self.link.send(REQUEST)
        if error is None:
            self.sent += 1
        else:
            assert error in (NO_LINK, NO_ROUTE, TIMEOUT) and self.link.detail

    @rule()
    def poll(self):
        try:
            data = self.link.poll()
        except OSError:
            return
        assert data is None or isinstance(data, bytes)
        if data:
            self.answers += 1
            assert self.answers <= self.sent

    @rule(ms=st.integers(1, 8000))
    def wait(self, ms):
        self.now.ms += ms

    def teardown(self):
        for what, values in FAULTS.items():
            setattr(self.net, what, values[0])
        assert self.link.send(REQUEST) is None
        assert self.link.poll() == ANSWER


NetLinkMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_netlink_machine = NetLinkMachine.TestCase
