"""The board firmware/main.py runs on, built from a profile (hardware/profiles.py) (MicroPython).

``Board(profile, env, parts=None)`` makes each slot's part from the profile with a maker in
``MAKERS`` (part name -> ``maker(board, spec)``), over the buses and pins ``env`` gives, and
implements exactly the interface at the top of firmware/main.py, including its optional
``parts_selftest()`` and ``net_detail()`` which the loop uses when a board has them.

A slot takes **any object with that slot's interface**; ``parts`` gives objects for slots
directly (a driver another module builds, or a stand-in where a test needs a part-free
board), and a new driver adds its maker here, ``make_<part>(board, spec)`` in ``MAKERS``
(``"st7789": make_st7789``). The interfaces:

===========  ==================================================================
slot         interface
===========  ==================================================================
reader       ``selftest(ticks_ms, wait_ms)`` -> None | text; ``poll(now_ms)`` -> Card,
             ("fault", text), ("ok",), None (hardware/reader.py)
finger       ``selftest()`` -> None | text; ``poll(now_ms)`` -> Finger, ("fault", text), None
display      ``selftest()`` -> None | text; ``show(lines, style)`` -> None | text
             (hardware/st7789.py: a problem is returned, never raised)
keys         ``selftest()``; ``poll(now_ms)`` -> key name | None (hardware/keys.py)
buzzer       ``selftest()``; ``play(pattern, now_ms)``; ``poll(now_ms)`` (hardware/buzzer.py)
led          ``selftest()``; ``set(pattern)`` (hardware/led.py)
rtc          ``selftest()``; ``epoch()`` -> UTC s | None; ``set_epoch(s)`` -> bool (hardware/rtc.py)
network      ``selftest()``; ``send(data)``; ``poll()``; ``ntp(server)``; ``detail``
             (hardware/net.py)
battery      ``selftest()``; ``poll(now_ms)``; ``level()`` (hardware/power.py)
===========  ==================================================================

``env`` is what the board is made of, so the same class runs on a device and in the simulator
(simulator/parts/board.py)::

    ticks_ms(), sleep_ms(ms)      the raw tick counter (wraps at 2**30 on MicroPython: the board
                                  widens it) and a sleep
    uart(spec), i2c(spec), spi(spec)   a bus from its profile entry
    pin(n, mode)                  a machine.Pin; mode "out" or "in-pullup"
    pwm(n), adc(n)                PWM and ADC on a pin
    interface(spec)               the network interface (network.WLAN, network.LAN), started
    network, socket, ssl          the modules (ssl None where the board has no TLS)
    receiver()                    (host, port) of the service (TLS: the network part's "tls",
                                  by default whenever ``ssl`` is there)
    font_flash(path)              the display font (``readinto(addr, buf)``; a device opens
                                  ``path`` on its filesystem, the simulator the built font)
    partitions(), identity(), boot_id(), urandom(n), reset()
    cadata                        (optional) the CA certificate to trust for TLS, DER or PEM
    console_read(), console_write(data)   (optional) the service console's byte stream
                                  (firmware/main.py's interface); the board has them only then
    stimuli                       (optional, test builds) the console's test stimuli

Nothing here raises into the loop: a part that cannot be made at boot (an OSError from its
bus) is a self-test problem and its slot stays empty (the terminal punches without it); a part
that fails later (a beep pattern nobody knows, a display that raises) is kept in ``faults``
(the last 8) and the terminal goes on. A profile that is wrong (``profiles.check``) or names a
part with no maker is refused with ``ValueError`` at once: that is a build defect, not a fault
of the day.
"""

from micropython import const

from hardware import profiles
from protocol.client import NO_LINK

SLOTS = ("reader", "finger", "display", "keys", "buzzer", "led", "rtc", "network", "battery")

_TICKS_PERIOD = const(1 << 30)
_FAULTS_KEPT = const(8)


def _uart(board, spec):
    return board.bus(spec["bus"])


def make_pn532(board, spec):
    from hardware.link import Link, UartTransport
    from hardware.pn532 import PN532
    from hardware.reader import Reader

    return Reader(PN532(spec.get("system_code", 0xFFFF)), Link(UartTransport(_uart(board, spec))))


def make_rcs620s(board, spec):
    from hardware.link import Link, UartTransport
    from hardware.rcs620s import RCS620S
    from hardware.reader import Reader

    return Reader(RCS620S(spec.get("system_code", 0xFFFF)), Link(UartTransport(_uart(board, spec))))


def make_r503(board, spec):
    """An R30x/R503 fingerprint module (and, with ``vein_bus``, an XG vein module fused with
    it by ``rule``/``min_score``: hardware/hybrid.py) on the profile's UARTs."""
    from hardware.btreader import finger_module

    vein = board.bus(spec["vein_bus"]) if "vein_bus" in spec else None
    return finger_module(_uart(board, spec), vein, spec.get("rule", "both"),
                         spec.get("min_score", 100), board.ticks_ms, board.idle)  # fmt: skip


def make_ds3231(board, spec):
    from hardware.rtc import DS3231

    return DS3231(board.bus(spec["bus"]), spec.get("address"))


def make_pcf8563(board, spec):
    from hardware.rtc import PCF8563

    return PCF8563(board.bus(spec["bus"]), spec.get("address"))


def make_keys(board, spec):
    from hardware.keys import KeyMatrix

    env = board.env
    rows = [env.pin(n, "out") for n in spec["rows"]]
    cols = [env.pin(n, "in-pullup") for n in spec["cols"]]
    return KeyMatrix(rows, cols, spec["keymap"], spec.get("debounce_ms", 30))


def make_buzzer(board, spec):
    from hardware.buzzer import Buzzer

    return Buzzer(board.env.pwm(spec["pin"]))


def make_led(board, spec):
    from hardware.led import RgbLed

    r, g, b = (board.env.pwm(n) for n in spec["pins"])
    return RgbLed(r, g, b, spec.get("common_anode", False))


def make_battery(board, spec):
    from hardware.power import Battery

    return Battery(board.env.adc(spec["pin"]), spec.get("divider", 2.0))


FONT_PATH = "/font/unifont_jp16.dkf"  # on the board's filesystem (hardware/font.py)


def make_st7789(board, spec):
    """The ST7789 on the profile's SPI bus; pins ``cs``, ``dc``, ``reset`` and ``backlight``
    (``reset`` and ``backlight`` optional), the font from ``spec["font"]`` (``FONT_PATH``)."""
    from hardware.font import Font
    from hardware.st7789 import HEIGHT, ST7789, WIDTH

    if (spec.get("width", WIDTH), spec.get("height", HEIGHT)) != (WIDTH, HEIGHT):
        raise ValueError("st7789: the driver draws %d x %d, not %r x %r"
                         % (WIDTH, HEIGHT, spec.get("width"), spec.get("height")))  # fmt: skip
    env = board.env
    bus = board.bus(spec["bus"])
    font = Font(env.font_flash(spec.get("font", FONT_PATH)))
    rst = env.pin(spec["reset"], "out") if "reset" in spec else None
    if "backlight" in spec:
        env.pin(spec["backlight"], "out").value(1)
    return ST7789(
        bus, env.pin(spec["dc"], "out"), env.pin(spec["cs"], "out"), font, rst=rst,
        wait_ms=env.sleep_ms, spi_hz=board.profile["buses"][spec["bus"]]["baudrate"],
        verify_id=spec.get("verify_id", True),
    )  # fmt: skip


def make_network(board, spec):
    from hardware.net import NetLink

    env = board.env
    host, port = env.receiver()
    tls = spec.get("tls", env.ssl is not None)  # TLS wherever the board has it
    kind = "Wi-Fi" if spec["part"] == "wlan" else "LAN"
    cadata = getattr(env, "cadata", None)  # the receiver's CA, pinned (else the board's own)
    return NetLink(
        env.interface(spec), env.network, env.socket, host, port, env.ssl, tls, kind, cadata=cadata
    )


MAKERS = {
    "pn532": make_pn532,
    "rcs620s": make_rcs620s,
    "ds3231": make_ds3231,
    "pcf8563": make_pcf8563,
    "key-matrix": make_keys,
    "buzzer": make_buzzer,
    "rgb-led": make_led,
    "battery": make_battery,
    "st7789": make_st7789,
    "r503": make_r503,
    "wlan": make_network,
    "lan": make_network,
}


class Board:
    def __init__(self, profile, env, parts=None, ntp_server="pool.ntp.org"):
        problems = profiles.check(profile)
        if problems:
            raise ValueError("profile %r: %s" % (profile.get("name"), "; ".join(problems)))
        self.profile = profile
        self.name = profile["name"]
        self.env = env
        self.ntp_server = ntp_server
        self.problems = []  # parts that could not be made at boot
        self.faults = []  # what failed since (the last few)
        self._buses = {}
        self._raw = env.ticks_ms()
        self._ms = 0
        self._queued = None  # a finger result that came in the same turn as a card
        self.shown = ((), "")  # type: tuple  # the last screen asked of the display: (lines, style)
        self.parts = {}
        given = parts or {}
        for slot in SLOTS:
            if slot in given:
                self.parts[slot] = given[slot]
                continue
            spec = profile["parts"].get(slot)
            if spec is None:
                continue
            maker = MAKERS.get(spec["part"])
            if maker is None:
                raise ValueError(
                    "profile %r: no driver for the %s part %r (known: %s)"
                    % (self.name, slot, spec["part"], ", ".join(sorted(MAKERS)))
                )
            try:
                self.parts[slot] = maker(self, spec)
            except OSError as e:
                self.problems.append("%s: %s did not start (%s)" % (slot, spec["part"], e))
        p = self.parts
        self.reader = p.get("reader")
        self.finger = p.get("finger")
        self.bt = None
        if self.reader is not None and hasattr(self.finger, "start_enrol"):
            # A BT-style card + finger reader (hardware/btreader.py): one reader for the board,
            # whose self-test covers both parts and which enrols a finger in service mode.
            from hardware.btreader import CardAndFinger

            spec = profile["parts"]["finger"]
            method = spec.get("identify_mode", "card_or_finger")
            self.bt = CardAndFinger(self.reader, self.finger, method)
            self.reader = self.bt
            self.finger = None
            p.pop("finger")
        self.display = p.get("display")
        self.keys = p.get("keys")
        self.buzzer = p.get("buzzer")
        self.led_part = p.get("led")
        self.rtc = p.get("rtc")
        self.network = p.get("network")
        self.battery = p.get("battery")
        # The service console (firmware/console.py) on the env's console stream, only where the
        # env has one: the loop tests hasattr(board, "console_read"). Stimuli: test builds only.
        if hasattr(env, "console_read"):
            self.console_read = env.console_read
            self.console_write = env.console_write
        self.stimuli = getattr(env, "stimuli", None)

    def bus(self, name):
        """The profile's bus ``name``, made once and shared by the parts on it."""
        if name not in self._buses:
            spec = self.profile["buses"][name]
            self._buses[name] = getattr(self.env, spec["type"])(spec)
        return self._buses[name]

    def _fault(self, text):
        self.faults.append(text)
        if len(self.faults) > _FAULTS_KEPT:
            self.faults.pop(0)

    # ------------------------------------------------------------ firmware/main.py's interface

    def ticks_ms(self):
        raw = self.env.ticks_ms()
        self._ms += (raw - self._raw) % _TICKS_PERIOD
        self._raw = raw
        return self._ms

    def rtc_epoch(self):
        return self.rtc.epoch() if self.rtc is not None else None

    def set_rtc(self, epoch):
        if self.rtc is not None and not self.rtc.set_epoch(epoch):
            self._fault("rtc: not set: " + self.rtc.problem)

    def boot_id(self):
        return self.env.boot_id()

    def partitions(self):
        return self.env.partitions()

    def identity(self):
        return self.env.identity()

    def entropy(self):
        try:
            return self.env.urandom(8)
        except (AttributeError, OSError):
            return b""

    def reader_selftest(self):
        if self.reader is not None:
            return self.reader.selftest(self.ticks_ms, self.idle)
        finger = self.finger  # a finger-only board: the finger module identifies
        return finger.selftest() if finger is not None else "no reader and no finger module"

    def reader_follow(self, state):
        """Tell the reader the terminal's state (every turn): a BT reader starts a finger
        enrolment when service mode begins and cancels it when service mode ends."""
        follow = getattr(self.reader, "follow", None)
        if follow is not None:
            follow(state)

    def parts_selftest(self):
        """What the boot self-test found on every part but the reader, as texts "slot: …"
        (logged as event 5, SELF_TEST, by the terminal)."""
        found = list(self.problems)
        for slot in SLOTS[1:]:
            part = self.parts.get(slot)
            if part is None or (slot == "finger" and self.reader is None):
                continue
            try:
                problem = part.selftest()
            except Exception as e:  # a part's defect is its self-test's result, said
                problem = "self-test raised %r" % e
            if problem:
                if not problem.startswith(slot + ":"):
                    problem = "%s: %s" % (slot, problem)
                found.append(problem)
        return found

    def reader_poll(self, now_ms):
        event = None
        if self.reader is not None:
            event = self.reader.poll(now_ms)
        if self.finger is not None:
            got = self.finger.poll(now_ms)
            if isinstance(got, tuple) and got and got[0] == "fault":
                got = ("fault", "finger: %s" % (got[1] if len(got) > 1 else ""))
            if got is not None:
                if event is None:
                    event = got
                else:
                    self._queued = got  # one event a turn: the finger's comes next turn
        if event is None and self._queued is not None:
            event, self._queued = self._queued, None
        return event

    def key_poll(self, now_ms):
        return self.keys.poll(now_ms) if self.keys is not None else None

    def show(self, lines, style):
        self.shown = (tuple(lines), style)
        if self.display is None:
            return
        try:
            problem = self.display.show(lines, style)
        except Exception as e:  # a part that raises all the same: said, the door goes on
            problem = "%r" % e
        if problem:
            self._fault(problem if problem.startswith("display:") else "display: " + problem)

    def beep(self, pattern):
        if self.buzzer is None:
            return
        now = self.ticks_ms()
        try:
            self.buzzer.play(pattern, now)
        except ValueError as e:
            self._fault("buzzer: %s" % e)
            self.buzzer.play("error", now)

    def led(self, pattern):
        if self.led_part is None:
            return
        try:
            self.led_part.set(pattern)
        except ValueError as e:
            self._fault("led: %s" % e)

    def reboot(self):
        self.env.reset()

    def net_send(self, data):
        if self.network is None:
            return NO_LINK
        return self.network.send(data)

    def net_detail(self):
        """What the link layer said about the last failed send."""
        return self.network.detail if self.network is not None else "no network part"

    def net_abort(self):
        """The request in flight timed out: its connection goes (a late answer would else be
        read as the next request's)."""
        if self.network is not None:
            self.network.close()

    def net_poll(self):
        if self.network is None:
            return b""
        return self.network.poll()

    def ntp(self):
        return self.network.ntp(self.ntp_server) if self.network is not None else None

    def battery_level(self):
        """(millivolts, percent, state) of a portable board's cell, or None."""
        return self.battery.level() if self.battery is not None else None

    def idle(self, ms):
        now = self.ticks_ms()
        if self.buzzer is not None:
            self.buzzer.poll(now)
        if self.battery is not None:
            self.battery.poll(now)
        self.env.sleep_ms(ms)
