"""A terminal at a door, on the desktop: the firmware core, simulated flash, a scripted reader and
a receiver in memory, under virtual time (MicroPython-compatible: the tests run it there too).

``Rig`` holds one terminal (journal, roster, configuration and event log on their own simulated
flash partitions), its uplink, and a ``protocol.server.Server`` over a ``MemoryStore``. The
network between them can be cut (``rig.network = False``); the service can be put in maintenance
(``rig.store.windows``). ``Rig.run_until(t)`` advances virtual time, running the board's loop:
ticks, uplink exchanges, and scheduled taps. ``day()`` is the demonstration of ``make sim``: a
50-person office with a maintenance window and a network outage, printed as a timeline.

Until the simulator issue replaces it, this is the desktop harness of issue 5.
"""

from firmware import eventlog, texts
from firmware.bootcount import count_boot
from firmware.clock import Clock
from firmware.config import Config
from firmware.eventlog import EventLog
from firmware.journal import Journal
from firmware.roster import Roster
from firmware.terminal import Beep, Card, Finger, SetRtc, Show, SyncClock, Terminal
from firmware.uplink import Uplink
from protocol.client import NO_LINK, NO_ROUTE, Send
from protocol.memstore import MemoryStore
from protocol.server import Server
from simulator.norflash import SimulatedNorFlash

EPOCH = 1795039200  # 2026-11-19 07:00 JST (a Thursday)
TENANT = "ACME01"
TERMINAL = "T0001"
SECRET = b"door-secret-0123456789abcdef01"


def card_of(i):
    return bytes([1, 46, 76, 210, (i >> 8) & 0xFF, i & 0xFF, 0, 1])


def add_employees(store, count):
    """``count`` employees E0000… with one card, one finger, an overtime line; every tenth
    prefers English."""
    for i in range(count):
        store.add_employee(
            TENANT,
            "E%04d" % i,
            "社員%d" % i,
            cards=[card_of(i)],
            fingers=[i],
            lines=["残業残り %d h" % (40 - i % 40)],
            lang="en" if i % 10 == 9 else "",
        )


class Rig:
    def __init__(
        self,
        employees=10,
        values=None,
        rtc=EPOCH,
        journal_sectors=8,
        roster_sectors=16,
        boot_id=1,
        sector_size=4096,
        flash_dir=None,
        service=None,
        receiver=None,
        reader=None,
        identity=(TENANT, TERMINAL, SECRET),
    ):
        self.now = 0  # virtual milliseconds since power-on
        self.epoch0 = EPOCH if rtc is None else rtc  # the service's time at now == 0

        def flash(name, sectors):
            path = None if flash_dir is None else flash_dir + "/" + name + ".img"
            return SimulatedNorFlash(sector_size, sectors, path=path)

        self.journal_flash = flash("journal", journal_sectors)
        self.roster_flash = flash("roster", roster_sectors)
        self.config_flash = flash("config", 2)
        self.log_flash = flash("log", 4)
        # (tenant, terminal ID, secret): the rig's own, or those a real receiver issued
        self.tenant, self.terminal_id, self.secret = identity
        self.boot_flash = flash("bootcount", 2)  # firmware.bootcount (PRT-SAFE-1)
        self.store = MemoryStore()
        self.store.add_tenant(self.tenant)
        self.store.add_terminal(self.tenant, self.terminal_id, self.secret)
        if service is None:
            add_employees(self.store, employees)
            self.server = Server(self.store)
            service = self.server.handle
        self.service = service  # request bytes, service time -> answer bytes
        # With a service of its own, the receiver that holds maintenance windows and punches
        # (``add_maintenance(start, end, notice)``, ``held(tenant, terminal)``).
        self.receiver = receiver
        self.network = True
        self.ntp = True  # an NTP server is reachable whenever the network is
        self.ntp_requests = []
        self.on_mode = None  # called with (old, new) when the terminal's mode changes
        self.screens = []
        self.beeps = []
        self.keep = 64  # screens and beeps the rig remembers (tests look at the last ones)
        self.rtc = rtc
        self.boot_id = boot_id
        self.values = values
        self.reader_selftest = None  # what the reader's self-test finds at the next boot
        # With a simulated reader (simulator/readers/desk.py), taps go through the real driver
        # and the chip's bytes; without one, the rig hands the terminal a ready Card.
        self.reader = reader
        if reader is not None:
            self.reader_selftest = reader.selftest_result
        self.last_exchange = ""  # kind of the last uplink request (benchmarks report it)
        self.rtc_writes = []  # epochs the terminal wrote to the RTC (SetRtc)
        self.power_on()

    def power_on(self):
        """Mount everything from flash and boot (also after a power cut)."""
        self.config = Config(self.config_flash)
        self.config.load()
        if self.values:
            self.config.apply(1, self.values)
        self.journal = Journal.mount(self.journal_flash)
        self.roster = Roster.mount(self.roster_flash)
        self.log = EventLog.mount(self.log_flash)
        self.clock = Clock()
        self.terminal = Terminal(
            self.journal, self.roster, self.config, self.log, self.clock, self.boot_id, "sim"
        )
        for problem in self.config.problems:
            self.log.append(eventlog.CONFIG_FALLBACK, problem[:100], None, 0, self.boot_id)
        boot_count = count_boot(self.boot_flash, self.log, self.now, self.boot_id)
        self.uplink = Uplink(
            self.terminal, self.tenant, self.terminal_id, self.secret, None, b"", boot_count
        )
        rtc = None if self.rtc is None else self.rtc + self.now // 1000
        self._out(self.terminal.boot(self.now, rtc, self.reader_selftest))
        self.uplink.start(self.now)

    def add_maintenance(self, start, end, notice=""):
        """Announce a maintenance window at the receiver (service time)."""
        if self.receiver is not None:
            self.receiver.add_maintenance(start, end, notice)
        else:
            self.store.windows.append({"start": start, "end": end, "notice": notice})

    def held(self):
        """Sequence numbers the receiver holds for this terminal."""
        source = self.store if self.receiver is None else self.receiver
        return sorted(source.held(self.tenant, self.terminal_id))

    def service_time(self):
        return self.epoch0 + self.now // 1000

    def _out(self, actions):
        for a in actions:
            if isinstance(a, Show):
                self.screens.append((self.now, a))
                if len(self.screens) > self.keep:  # the rig keeps the recent screens only
                    del self.screens[: len(self.screens) - self.keep // 2]
            elif isinstance(a, Beep):
                self.beeps.append((self.now, a.pattern))
                if len(self.beeps) > self.keep:
                    del self.beeps[: len(self.beeps) - self.keep // 2]
            elif isinstance(a, SetRtc):
                self.rtc_writes.append(a.epoch)
            elif isinstance(a, SyncClock):
                self.ntp_requests.append(self.now)
                epoch = self.service_time() if self.network and self.ntp else None
                self._out(self.terminal.ntp_result(self.now, epoch))
        return actions

    # ------------------------------------------------------------------- the door

    def tap(self, i=None, card=None):
        if card is None and self.reader is not None:
            return self._reader_tap(card_of(i))
        c = card if card is not None else Card(card_of(i))
        return self._out(self.terminal.card(self.now, c))

    def _reader_tap(self, idm):
        """A card held to the simulated reader: the driver's events go to the terminal as
        firmware/main.py passes them."""
        from simulator.readers.field import FelicaCard

        self.reader.catch_up(self.now)
        actions = []
        for event in self.reader.quick_tap(FelicaCard(idm)):
            if isinstance(event, Card):
                actions += self.terminal.card(self.now, event)
            elif event[0] == "fault":
                actions += self.terminal.reader_fault(self.now, event[1])
            else:
                actions += self.terminal.reader_ok(self.now)
        return self._out(actions)

    def finger(self, result, template=0):
        return self._out(self.terminal.finger(self.now, Finger(result, template)))

    def key(self, key):
        return self._out(self.terminal.key(self.now, key))

    def last_screen(self):
        return self.screens[-1][1] if self.screens else None

    # ---------------------------------------------------------------------- the loop

    def exchange(self):
        """One uplink exchange if one is due now; returns True if one ran."""
        action = self.uplink.next_action(self.now)
        if not isinstance(action, Send):
            return False
        old = self.terminal.mode
        self.last_exchange = action.kind
        if not self.network:
            self._out(self.uplink.failed(self.now, NO_LINK, "no network"))
        else:
            try:
                answer = self.service(action.data, self.service_time())
            except OSError as e:  # a real link (the receiver over TCP) that failed
                self._out(self.uplink.failed(self.now, NO_ROUTE, str(e)))
            else:
                self._out(self.uplink.receive(self.now, answer))
        if self.terminal.mode != old and self.on_mode is not None:
            self.on_mode(old, self.terminal.mode)
        return True

    def settle(self, limit=200):
        """Run the exchanges due now, and the background work they bring (roster pages);
        True if ``limit`` stopped it with more to do."""
        for _ in range(limit):
            if not self.exchange() and not self.uplink.background(self.now):
                return False
        return True

    def tick(self):
        self._out(self.terminal.tick(self.now))
        self.uplink.background(self.now)

    def step(self, end_ms, step_ms=1000):
        """One turn of the board's loop: a tick, every exchange due, then time moves on (at
        most ``step_ms``, never past ``end_ms``). Returns False once ``end_ms`` is reached."""
        self.tick()
        busy = self.settle()
        if self.now >= end_ms:
            return False
        if not busy:
            self.now = min(end_ms, self.now + step_ms)
        return True

    def run_until(self, end_ms, step_ms=1000):
        """Advance virtual time to ``end_ms``: ticks and uplink exchanges on the way."""
        while self.step(end_ms, step_ms):
            pass


# Integers in firmware/eventlog.py that are not event codes.
_NOT_EVENT_CODES = ("FORMAT_VERSION", "HEADER_SIZE", "RECORD_SIZE", "TEXT_MAX")
# The rig's own sample data (add_employees) in English.
_SAMPLE_GLOSS = (("社員", "employee "), ("残業残り", "overtime left"))


def event_names():
    """Event code -> its name in firmware/eventlog.py (NET_ERROR -> "net error"), the legend
    of the timeline's event-log line; docs/FIRMWARE.md says more of each."""
    names = {}
    for key, value in eventlog.__dict__.items():
        if key.isupper() and isinstance(value, int) and key not in _NOT_EVENT_CODES:
            names[value] = key.lower().replace("_", " ")
    return names


def english(lines):
    """A screen's lines in English, for a reader of the timeline: the terminal's messages and
    kind names (firmware/texts.py) and the rig's sample names and lines; anything else (a
    name from a real roster) as it is."""
    pairs = list(_SAMPLE_GLOSS)
    for ja, en in texts.CATALOGUE.values():
        pairs.append((ja.split("%")[0], en.split("%")[0]))
    for i, ja in enumerate(texts.KINDS["ja"]):
        pairs.append((ja, texts.KINDS["en"][i]))
    pairs.sort(key=lambda pair: -len(pair[0]))  # the longest first: オフライン保存, then オフライン
    out = []
    for line in lines:
        for ja, en in pairs:
            if ja and ja in line:
                line = line.replace(ja, en)
        out.append(line)
    return out


def describe(lines):
    """A screen as the timeline prints it: the display's lines, and in English when they are
    not already."""
    shown = " | ".join(lines)
    translated = " | ".join(english(lines))
    return shown if translated == shown else "%s   (%s)" % (shown, translated)


def is_double(screen):
    """True for the answer to a second tap inside the double-punch window."""
    return (
        texts.text("already", "ja") in screen.lines or texts.text("already", "en") in screen.lines
    )


def _hhmm(epoch):
    m = ((epoch + 9 * 3600) // 60) % 1440
    return "%02d:%02d" % (m // 60, m % 60)


def _at(hour, minute):
    return ((hour - 7) * 3600 + minute * 60) * 1000


def schedule(people, epoch0):
    """The day's events (virtual ms, employee or -1, key or network change), time-ordered,
    and the maintenance window (service time)."""
    events = []
    for i in range(people):
        events.append((_at(8, 0) + i * 37000, i, "in"))
        events.append((_at(11, 30) + i * 23000, i, "break_start"))
        events.append((_at(12, 30) + i * 23000, i, "break_end"))
        events.append((_at(17, 0) + i * 41000, i, "out"))
    events.append((_at(8, 10), people + 7, "in"))  # an unregistered card
    events.append((_at(8, 0) + 3 * 37000 + 20000, 3, "in"))  # the same card again, 20 s later
    events.append((_at(17, 10), -1, "network down"))
    events.append((_at(17, 25), -1, "network up"))
    events.sort()
    return events, (epoch0 + 5 * 3600, epoch0 + 5 * 3600 + 45 * 60)


def play(rig, event):
    """Apply one scheduled event at its time (the rig has been run up to it)."""
    _when, who, what = event
    if who < 0:
        rig.network = what == "network up"
        return None
    rig.key(what)
    return rig.tap(who)


def day(people=50, printer=print, rig=None):
    """A working day at a 50-person office: arrivals, lunch breaks, a maintenance window at
    12:00-12:45, a network outage at 17:10-17:25 during departures. Every punch is delivered
    once."""
    if rig is None:
        rig = Rig(employees=people, journal_sectors=16)
    out = []

    def say(text):
        line = "%s  %s" % (_hhmm(rig.service_time()), text)
        out.append(line)
        printer(line)

    rig.run_until(_at(7, 1))
    say("terminal up: %s, roster %d people" % (rig.terminal.mode, rig.roster.count))
    say("(taps shown: a sample - the first and every 50th, the first of every 20 taken")
    say(" offline, and every one that is not a plain OK; all the punches are in the CSV)")
    events, maintenance = schedule(people, rig.epoch0)
    rig.add_maintenance(maintenance[0], maintenance[1], "定期メンテナンス")
    say("maintenance announced for %s-%s" % (_hhmm(maintenance[0]), _hhmm(maintenance[1])))
    offline_taps = 0
    taps = 0
    doubles = 0
    strangers = 0

    def mode_changed(old, new):
        say("mode %s -> %s (unsent %d)" % (old, new, rig.journal.unsent_count))

    rig.on_mode = mode_changed
    for when, who, what in events:
        rig.run_until(when)
        play(rig, (when, who, what))
        if who < 0:
            say(what)
            continue
        taps += 1
        strangers += who >= people
        screen = rig.last_screen()
        doubles += is_double(screen)
        if screen.style == "offline":
            offline_taps += 1
            if offline_taps % 20 == 1:
                say("tap: %s" % describe(screen.lines))
        elif who >= people or screen.style in ("info", "error") or taps % 50 == 1:
            say("tap: %s" % describe(screen.lines))
    rig.run_until(_at(19, 0))
    held = rig.held()
    recorded = rig.journal.next_seq - 1
    say(
        "taps %d, recorded %d (offline %d), service holds %d, unsent %d"
        % (taps, recorded, offline_taps, len(held), rig.journal.unsent_count)
    )
    say(
        "(%d taps = %d people x 4 punches: clock in, break start, break end, clock out; %d"
        % (taps, people, strangers)
    )
    say(" unregistered card, recorded and flagged by the receiver as person not registered;")
    say(
        " and %d double tap: within %d s of the same person's punch, answered 打刻済みです"
        % (doubles, rig.config["double_punch_s"])
    )
    say(" (Already recorded) and not recorded again)")
    codes = {}  # type: dict[int, int]
    for e in rig.log.events(0, 1000):
        codes[e["code"]] = codes.get(e["code"], 0) + 1
    names = event_names()
    counted = ["%d %s ×%d" % (c, names.get(c, "?"), codes[c]) for c in sorted(codes)]
    say("event log, as code name ×count (docs/FIRMWARE.md lists the codes):")
    for i in range(0, len(counted), 4):
        say("  " + ", ".join(counted[i : i + 4]))
    ok = len(held) == recorded and rig.journal.unsent_count == 0
    return ok, out, rig
