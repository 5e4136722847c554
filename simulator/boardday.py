"""The door day on a whole board: firmware/main.py's loop on hardware/board.py, built from each
profile (hardware/profiles.py) with every part simulated (simulator/parts/), against the
protocol's server in memory, under virtual time. ``make sim`` prints it for both profiles.

Each person taps a card at arrival and departure (on the BT profile, every third one places a
finger instead: the real R503 driver over the simulated R503, which holds each employee's finger
on the library page the roster gives as their finger ID; departures are chosen with the "out"
key on the key matrix); the network goes away for 20 minutes in the afternoon (the PiT's Wi-Fi
access point, the BT's cable) and the punches taken meanwhile are delivered afterwards. Between
events the loop idles in longer steps (a light sleep), during events at firmware/main.py's 20 ms
turns.

The display is the ST7789 driver on the simulated chip: after each tap the panel's frame
memory is kept (``feedback``: the screen asked and the picture), and ``write_feedback_png``
writes the day's last feedback screen as a PNG (CPython, Pillow; ``board_days(png_dir=…)``).
"""

from firmware import eventlog
from firmware.main import TURN_MS, Loop
from firmware.punch import METHOD_FINGER
from protocol.memstore import MemoryStore
from protocol.server import Server
from simulator.door import EPOCH, SECRET, TENANT, TERMINAL, _hhmm, add_employees, card_of
from simulator.parts.board import build
from simulator.readers.field import FelicaCard

IDLE_MS = 2000  # a turn's wait when nothing is going on
FINGER_MS = 1200  # a finger held on the R503: poll, image 200 ms, features 500 ms, search


def finger_of(who):
    """The finger employee ``who`` enrolled (add_employees gives them finger ID ``who``)."""
    return "E%04d-right-index" % who


def _at(hour, minute):
    return ((hour - 7) * 3600 + minute * 60) * 1000


class BoardDay:
    def __init__(self, profile, people=10, idle_ms=IDLE_MS):
        self.profile = profile
        self.idle_ms = idle_ms
        self.people = people
        self.store = MemoryStore()
        self.store.add_tenant(TENANT)
        self.store.add_terminal(TENANT, TERMINAL, SECRET)
        add_employees(self.store, people)
        if "finger" in profile["parts"]:
            # A BT-style terminal takes a card or a finger: its service configures that (the
            # default identify_mode is "card", and a finger alone is then refused).
            values = {"identify_mode": "card_or_finger"}
            self.store.config[(TENANT, TERMINAL)] = {"version": 1, "values": values}
        self.server = Server(self.store)
        self.board, self.env = build(profile, self.server.handle, EPOCH)
        self.loop = Loop(self.board)
        self.taps = 0
        self.fingers = 0
        self.feedback = None  # (screen asked, panel frame memory, MADCTL) after the last tap
        sensor = self.env.finger_sensor
        if sensor is not None:  # enrolled at the office: employee i's finger on page i
            for i in range(people):
                sensor.enrol(i, finger_of(i))

    def turns(self, ms, step=TURN_MS):
        end = self.env.now + ms
        while self.env.now < end:
            self.loop.turn()
            self.board.idle(step)

    def run_until(self, when):
        battery = self.profile["parts"].get("battery")
        if battery is not None:  # the cell runs down over the day
            self.env.adcs[battery["pin"]].volts = 4.10 - 0.30 * self.env.now / _at(19, 0)
        while self.env.now < when:
            busy = self.loop.in_flight is not None or self.board.buzzer.busy()
            self.loop.turn()
            wait = min(self.idle_ms, max(TURN_MS, when - self.env.now))
            self.board.idle(TURN_MS if busy else wait)

    def punch(self, who, leaving):
        env = self.env
        if leaving and env.keypad is not None:
            env.keypad.press("out")
            self.turns(60)
            env.keypad.release("out")
            self.turns(40)
        if env.finger_sensor is not None and who % 3 == 2:
            env.finger_sensor.place(finger_of(who))
            self.turns(FINGER_MS)
            env.finger_sensor.lift()
            self.fingers += 1
        else:
            card = env.field.place(FelicaCard(card_of(who)))
            self.turns(200)
            env.field.remove(card)
            self.turns(200)
        self.taps += 1
        chip = env.display_chip
        if chip is not None and self.board.shown[1] != "ready":  # the feedback screen, still up
            self.feedback = (self.board.shown, bytes(chip.ram), chip.madctl)
        self.turns(2400)  # the feedback screen's time

    def outage(self, down):
        net = self.env.net
        net.link = (
            ("no_ap" if self.profile["parts"]["network"]["part"] == "wlan" else "unplugged")
            if down
            else "up"
        )

    def day(self, printer=print):
        events = []
        for i in range(self.people):
            events.append((_at(8, 0) + i * 41000, i, False))
            events.append((_at(17, 0) + i * 53000, i, True))
        events.append((_at(17, 2), -1, True))
        events.append((_at(17, 20), -1, False))
        events.sort()
        for when, who, what in events:
            self.run_until(when)
            if who < 0:
                self.outage(what)
            else:
                self.punch(who, what)
        self.run_until(_at(19, 0))
        return self.report(printer)

    def report(self, printer):
        board = self.board
        loop = self.loop
        env = self.env
        p = self.profile
        parts = ", ".join("%s %s" % (slot, spec["part"]) for slot, spec in p["parts"].items())
        printer("%s (%s style, %s): %s" % (p["name"], p["style"], p["mcu"], parts))
        selftest = [e["text"] for e in loop.log.events(0, 1000) if e["code"] == eventlog.SELF_TEST]
        printer("  boot self-test (event 5): %s" % ("; ".join(selftest) or "every part answered"))
        errors = [e["text"] for e in loop.log.events(0, 1000) if e["code"] == eventlog.NET_ERROR]
        if errors:
            printer("  network outage 17:02-17:20, first error logged: %s" % errors[0])
        buzzer = env.pwms[p["parts"]["buzzer"]["pin"]]
        tones = buzzer.tones()
        heard = {}  # type: dict[str, int]
        for _t, hz, ms in tones:
            key = "%d Hz %d ms" % (hz, ms)
            heard[key] = heard.get(key, 0) + 1
        held = sorted(self.store.held(TENANT, TERMINAL))
        recorded = loop.journal.next_seq - 1
        by_finger = sum(
            1 for seq in range(1, recorded + 1) if loop.journal.read(seq).method == METHOD_FINGER
        )
        printer(
            "  taps %d (%d by finger), recorded %d (%d by finger), server holds %d, unsent %d;"
            " LED %s; tones: %s"
            % (
                self.taps,
                self.fingers,
                recorded,
                by_finger,
                len(held),
                loop.journal.unsent_count,
                board.led_part.pattern,
                ", ".join("%s ×%d" % (k, n) for k, n in sorted(heard.items())),
            )
        )
        rtc = board.rtc_epoch()
        line = "  at %s: RTC %s" % (
            _hhmm(env.service_time()),
            "off by %d s" % (rtc - env.service_time()) if rtc is not None else "invalid",
        )
        if board.battery is not None:
            mv, percent, state = board.battery_level()
            line += ", battery %d.%02d V %d %% (%s)" % (mv // 1000, mv % 1000 // 10, percent, state)
        printer(line + ("; faults: %s" % "; ".join(board.faults) if board.faults else ""))
        every = held == list(range(1, recorded + 1)) and loop.journal.unsent_count == 0
        return every and by_finger == self.fingers

    def write_feedback_png(self, path, scale=2):
        """The day's last feedback screen as the panel showed it (CPython: Pillow)."""
        from simulator.display import ST7789Chip, write_png

        if self.feedback is None:
            raise ValueError("no feedback screen was kept (no tap, or no simulated display)")
        _screen, ram, madctl = self.feedback
        chip = ST7789Chip()
        chip.ram[:] = ram
        chip.madctl = madctl
        chip.display_on, chip.asleep = True, False
        write_png(chip, path, scale)


def board_days(profiles, people=10, printer=print, png_dir=None):
    """The day on each profile; True when every punch answered OK is held once on each.
    With ``png_dir``, each profile's last feedback screen goes to :func:`feedback_png`."""
    ok = True
    for profile in profiles:
        day = BoardDay(profile, people)
        ok = day.day(printer) and ok
        if png_dir is not None and day.feedback is not None:
            day.write_feedback_png(feedback_png(png_dir, profile))
            lines, style = day.feedback[0]
            printer("  last feedback screen (%s): %s" % (style, " / ".join(lines)))
    return ok


def feedback_png(png_dir, profile):
    """Where :func:`board_days` writes ``profile``'s last feedback screen."""
    return "%s/feedback-%s.png" % (png_dir, profile["name"])
