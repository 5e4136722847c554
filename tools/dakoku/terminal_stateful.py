"""A hypothesis rule-based state machine of the terminal on the desktop rig (CPython only).

Random sequences of what employees, administrators and the world do at a door: known, unknown,
two and random-ID cards, unreadable reads, fingers (good, poor, wrong, none), kind and service
keys, PINs right and wrong, the admin card, time passing, clock jumps and loss, reboots with and
without the RTC, network up and down, maintenance windows, configuration pushes, roster changes,
uploads. After every step the invariants of issue 13 are checked against what the terminal
showed and what the journal holds, not against the terminal's own internals:

- a punch is stored exactly when OK is shown, with the credential tapped and the person shown;
- a tap is never refused as "journal full" while a slot is free;
- every state gets back to idle (ready, clock_invalid or journal_full) when left alone;
- the idle screen's kind and minute are those the next tap records;
- nothing a finished tap touched leaks into the next (the card a finger is stored under, the
  failed finger attempts that end a tap).

``tests/firmware/test_terminal_stateful.py`` runs it with a bounded number of examples;
``dakoku bench terminal-stateful`` runs many more and prints figures.
"""

from __future__ import annotations

import time
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from firmware import texts
from firmware.punch import METHOD_CARD_AND_FINGER, METHOD_FELICA, METHOD_FINGER
from firmware.terminal import Card, Finger, Show
from simulator.door import TENANT, TERMINAL, Rig, card_of
from simulator.norflash import PowerCut

EMPLOYEES = 6
ADMIN = card_of(99)
PIN = "4321"
RETRIES = 3
IDLE = ("ready", "clock_invalid", "journal_full")
OK_STYLES = ("ok", "offline")
FULL_TEXT = texts.text("journal_full", "ja")
FAILED_TEXT = texts.text("finger_failed", "ja")
RETRY_TEXTS = tuple(texts.text(k, "ja") for k in ("finger_poor", "finger_none", "finger_no_match"))
UNKNOWN_TEXT = texts.text("unknown_recorded", "ja")
KIND_KEYS = ("in", "out", "break_start", "break_end")
# Every rule's name, for the bench's coverage figure.
RULES = (
    "tap_known",
    "tap_unknown",
    "tap_bad",
    "tap_admin",
    "finger",
    "kind_key",
    "pin",
    "service_keys",
    "wait",
    "leave_alone",
    "clock_jump",
    "reboot",
    "network",
    "maintenance",
    "config_push",
    "roster_change",
    "crowd",
    "offline_hours",
    "power_cut",
    "reader",
)


def _shows(actions):
    return [a for a in actions if isinstance(a, Show)]


class TerminalMachine(RuleBasedStateMachine):
    counts: ClassVar[dict[str, int]] = {}  # rule -> times run, all examples (for the bench)

    def __init__(self):
        super().__init__()
        self.r: Rig = None  # type: ignore[assignment]
        self.prompted = None  # (card, employee code) that put the terminal into identifying
        self.fails = 0  # failed finger attempts in the identification under way
        self.config_version = 10
        self.extra = 0  # employees added by roster changes
        self.answered = {}  # seq -> credential of every punch answered OK
        self.last_ok = {}  # who -> rig time (ms) of their last punch answered OK
        self.window_unsure = 0  # rig time of the last event that may shorten the window
        # A clock jumped since the last boot: the rig's RTC does not follow the terminal's
        # SetRtc, so at the next boot the journal's punch times and the clock disagree.
        self.jumped = False

    def _count(self, name):
        TerminalMachine.counts[name] = TerminalMachine.counts.get(name, 0) + 1

    @initialize(
        mode=st.sampled_from(["card", "card_then_finger", "card_or_finger", "finger"]),
        keys=st.booleans(),
        offline=st.booleans(),
    )
    def boot(self, mode, keys, offline):
        values = {
            "identify_mode": mode,
            "keys_present": keys,
            "offline_punching": offline,
            "admin_cards": [ADMIN.hex()],
            "service_pin": PIN,
            "finger_retry_limit": RETRIES,
        }
        self.r = Rig(employees=EMPLOYEES, values=values, journal_sectors=2, sector_size=512)
        self.r.settle()
        self.r.run_until(self.r.now + 1000)

    # ------------------------------------------------------------------------ helpers

    def _idle_first_line(self):
        """The first line of the idle screen as shown now, if the terminal idles on it."""
        r = self.r
        if r.terminal.state not in ("ready", "clock_invalid"):
            return None
        for _when, show in reversed(r.screens):
            if show.style == "ready":
                return show.lines[0]
            return None  # something else is on screen
        return None

    def _employee_of(self, punch):
        roster = self.r.roster
        if punch.method == METHOD_FINGER:
            c = punch.credential
            return roster.lookup_finger((c[0] << 8) | c[1])
        return roster.lookup_card(punch.credential)

    def _feed(self, event, data):
        """Feed a card or finger; check the punch-exactly-when-OK invariants."""
        r = self.r
        t = r.terminal
        before_state = t.state
        if isinstance(data, Finger) and before_state != "identifying":
            self.fails = 0
        if isinstance(data, Card):
            self.fails = 0
        idle_line = self._idle_first_line()
        seq = r.journal.next_seq
        free = r.journal.free_slots()
        actions = r._out(t.card(r.now, data) if event == "card" else t.finger(r.now, data))
        shows = _shows(actions)
        ok = [s for s in shows if s.style in OK_STYLES]
        stored = r.journal.next_seq - seq
        assert stored == len(ok) <= 1, (stored, shows)
        for s in shows:
            if s.lines and s.lines[0] == FULL_TEXT:
                assert free == 0, f"refused as full with {free} free slots"
        if stored:
            punch = r.journal.read(seq)
            self.answered[seq] = punch.credential
            employee = self._employee_of(punch)
            who = employee.code if employee is not None else punch.credential
            last = self.last_ok.get(who)
            if last is not None and last > self.window_unsure:  # never twice within the window
                assert r.now - last >= r.config["double_punch_s"] * 1000, (who, r.now - last)
            self.last_ok[who] = r.now
            shown = ok[0].lines[0]
            assert shown == (employee.name if employee is not None else UNKNOWN_TEXT), shown
            if isinstance(data, Card):
                assert punch.method == METHOD_FELICA and punch.credential == data.idm
            elif punch.method == METHOD_CARD_AND_FINGER:
                assert self.prompted is not None, "a finger stored under a card nobody tapped"
                card, code = self.prompted
                assert punch.credential == card and employee is not None and code == employee.code
                assert data.employee is not None and data.employee.code == code
            else:
                assert punch.method == METHOD_FINGER
                assert r.config["identify_mode"] in ("finger", "card_or_finger")
                assert punch.credential == data.template.to_bytes(2, "big")
            if idle_line is not None:  # the idle screen said what this tap records
                kind = texts.kind_name(punch.kind, r.config["language"])
                assert idle_line.endswith(" " + kind), (idle_line, punch.kind)
                if punch.clock_synced:
                    assert idle_line.startswith(r.clock.hhmm(r.now))
        failed = any(s.lines[:1] == (FAILED_TEXT,) for s in shows)
        if isinstance(data, Finger) and not stored and (t.state == "identifying" or failed):
            self.fails += 1  # an attempt that did not identify (poor, none, nobody's, not A's)
        for s in shows:
            if s.lines[:1] == (FAILED_TEXT,):
                assert self.fails >= RETRIES, f"not recognised after {self.fails} attempts"
            elif s.lines[:1] and s.lines[0] in RETRY_TEXTS:
                assert self.fails < RETRIES
        if t.state == "identifying" and isinstance(data, Card):
            self.prompted = (data.idm, data.employee.code)
        elif t.state != "identifying":
            self.prompted = None
        return actions

    # -------------------------------------------------------------------------- rules

    @rule(i=st.integers(0, EMPLOYEES - 1))
    def tap_known(self, i):
        self._count("tap_known")
        self._feed("card", Card(card_of(i)))

    @rule(i=st.integers(200, 203))
    def tap_unknown(self, i):
        self._count("tap_unknown")
        self._feed("card", Card(card_of(i)))

    @rule(how=st.sampled_from(["two", "random", "unreadable"]), i=st.integers(0, EMPLOYEES - 1))
    def tap_bad(self, how, i):
        self._count("tap_bad")
        if how == "two":
            card = Card(card_of(i), count=2)
        elif how == "random":
            card = Card(card_of(i), stable=False)
        else:
            card = Card(b"", readable=False)
        self._feed("card", card)

    @rule()
    def tap_admin(self):
        self._count("tap_admin")
        self._feed("card", Card(ADMIN))

    @rule(
        result=st.sampled_from(["match", "match", "poor", "no_match", "no_finger"]),
        template=st.integers(0, EMPLOYEES + 1),
    )
    def finger(self, result, template):
        self._count("finger")
        self._feed("finger", Finger(result, template))

    @rule(key=st.sampled_from(KIND_KEYS))
    def kind_key(self, key):
        self._count("kind_key")
        self.r.key(key)

    @rule(right=st.booleans())
    def pin(self, right):
        self._count("pin")
        r = self.r
        r.key("service")
        for k in PIN if right else "0000":
            r.key(k)
        r.key("ok")
        if r.terminal.state == "service":
            self.prompted = None

    @rule(key=st.sampled_from(["cancel", "ok", "del", "1", "service"]))
    def service_keys(self, key):
        self._count("service_keys")
        self.r.key(key)
        if self.r.terminal.state != "identifying":
            self.prompted = None

    @rule(ms=st.sampled_from([300, 1500, 2500, 9000, 11000, 40000, 65000]))
    def wait(self, ms):
        self._count("wait")
        self.r.run_until(self.r.now + ms)
        if self.r.terminal.state != "identifying":
            self.prompted = None

    @rule()
    def leave_alone(self):
        """Nobody touches it: every state gets back to idle (enrolment waits are the longest)."""
        self._count("leave_alone")
        r = self.r
        r.run_until(r.now + 3 * 60 * 1000, step_ms=5000)
        assert r.terminal.state in (*IDLE, "reader_fault"), r.terminal.state
        if r.terminal.state == "journal_full":
            assert r.journal.free_slots() == 0
        self.prompted = None

    @rule(seconds=st.sampled_from([-3600, -200, 90, 600, 4 * 3600]))
    def clock_jump(self, seconds):
        self._count("clock_jump")
        r = self.r
        self.window_unsure = r.now
        self.jumped = True
        r.terminal.set_clock(r.now, r.service_time() + seconds, "ntp")
        r._out(r.terminal._take())  # its actions (SetRtc on a big jump)
        r.run_until(r.now + 100)

    @rule(rtc=st.booleans())
    def reboot(self, rtc):
        """A reboot or a power cut between operations: with the RTC, or with its battery dead."""
        self._count("reboot")
        r = self.r
        r.rtc = r.epoch0 if rtc else None
        if not rtc or self.jumped:
            self.window_unsure = r.now  # without the clock the window cannot be recalled
        self.jumped = False
        r.power_on()
        r.run_until(r.now + 100)
        self.prompted = None

    @rule(step=st.integers(1, 4), i=st.integers(0, EMPLOYEES - 1))
    def power_cut(self, step, i):
        """The supply drops during the flash writes of a tap: no OK, nothing answered lost."""
        self._count("power_cut")
        r = self.r
        seq = r.journal.next_seq
        r.journal_flash.cut_at(step)
        try:
            actions = r._out(r.terminal.card(r.now, Card(card_of(i))))
        except PowerCut:
            actions = []
        else:
            shown = [s for s in _shows(actions) if s.style in OK_STYLES]
            if shown:  # stored before the cut came: an answered punch like any other
                self.answered[seq] = card_of(i)
                employee = r.roster.lookup_card(card_of(i))
                self.last_ok[employee.code if employee is not None else card_of(i)] = r.now
        if self.jumped or r.rtc is None:
            self.window_unsure = r.now
        self.jumped = False
        r.journal_flash.disarm()
        r.journal_flash.power_on()
        r.power_on()
        r.run_until(r.now + 100)
        self.prompted = None

    @rule(fault=st.booleans())
    def reader(self, fault):
        self._count("reader")
        r = self.r
        if fault:
            r._out(r.terminal.reader_fault(r.now, "no answer"))
        else:
            r._out(r.terminal.reader_ok(r.now))
        self.prompted = None

    @rule(up=st.booleans())
    def network(self, up):
        self._count("network")
        r = self.r
        r.network = up
        if up:
            r.uplink.client.link_up(r.now)
        r.run_until(r.now + 100)

    @rule(minutes=st.sampled_from([5, 30]))
    def maintenance(self, minutes):
        self._count("maintenance")
        r = self.r
        start = r.service_time()
        r.add_maintenance(start, start + minutes * 60, "")
        r.run_until(r.now + 100)

    @rule(
        double=st.sampled_from([0, 5, 60]),
        mode=st.sampled_from(["card", "card_then_finger", "card_or_finger", "finger"]),
    )
    def config_push(self, double, mode):
        self._count("config_push")
        r = self.r
        self.config_version += 1
        values = {"double_punch_s": double, "identify_mode": mode}
        self.window_unsure = r.now + 2000  # a new window applies from the push on
        r.store.config[(TENANT, TERMINAL)] = {"version": self.config_version, "values": values}
        r.uplink.client.link_up(r.now)
        r.run_until(r.now + 2000)

    @rule(add=st.booleans())
    def roster_change(self, add):
        self._count("roster_change")
        r = self.r
        if add:
            i = 300 + self.extra
            self.extra += 1
            r.store.add_employee(TENANT, f"N{i:03d}", f"新人{i}", cards=[card_of(i)])
        else:
            r.store.remove_employee(TENANT, f"E{EMPLOYEES - 1:04d}")
        r.run_until(r.now + 2000)

    @rule()
    def crowd(self):
        """Several people in a row, a second apart."""
        self._count("crowd")
        for i in range(EMPLOYEES):
            self._feed("card", Card(card_of(i)))
            self.r.run_until(self.r.now + 1000)

    @rule()
    def offline_hours(self):
        """The network is down while people come and go: the journal fills (and may fill up)."""
        self._count("offline_hours")
        r = self.r
        r.network = False
        for _ in range(3):
            for i in range(EMPLOYEES):
                self._feed("card", Card(card_of(i)))
                r.run_until(r.now + 500)
            r.run_until(r.now + 61000, step_ms=5000)
        if r.terminal.state == "journal_full":
            self._count("journal_full_reached")

    # --------------------------------------------------------------------- invariants

    @invariant()
    def idle_screen_is_current(self):
        """The idle screen shows the minute and the kind a tap now would take."""
        r = self.r
        if r is None:
            return
        line = self._idle_first_line()
        if line is None:
            return
        t = r.terminal
        if t._now != r.now:
            return  # time moved on without an event (the rig ticks at the end of every wait)
        kind = texts.kind_name(t._current_kind(), r.config["language"])
        assert line.endswith(" " + kind), (line, kind)
        if r.clock.valid:
            assert line.startswith(r.clock.hhmm(r.now)), (line, r.clock.hhmm(r.now))

    @invariant()
    def answered_is_never_lost(self):
        """Every punch answered OK is still in the journal, or held by the receiver."""
        r = self.r
        if r is None:
            return
        held = None
        for seq, credential in self.answered.items():
            punch = r.journal.read(seq)
            if punch is not None:
                assert punch.credential == credential, seq
                continue
            held = set(r.held()) if held is None else held
            assert seq in held, f"punch {seq} answered OK is gone"

    @invariant()
    def delivered_means_held(self):
        """A punch the journal marks delivered is held by the receiver; the receiver holds
        nothing the terminal did not store."""
        r = self.r
        if r is None:
            return
        held = set(r.held())
        assert all(0 < s < r.journal.next_seq for s in held)
        for s in range(max(1, r.journal.next_seq - 64), r.journal.next_seq):
            if r.journal.read(s) is not None and r.journal.is_delivered(s):
                assert s in held, s


def run(examples: int, steps: int, seed: int | None = None) -> dict:
    """Run the machine; figures for the bench."""
    from hypothesis import HealthCheck, settings
    from hypothesis import seed as set_seed

    TerminalMachine.counts = {}
    test = TerminalMachine.TestCase
    test.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    runner = test("runTest")
    if seed is not None:
        set_seed(seed)(runner.runTest)
    t0 = time.perf_counter()
    runner.runTest()
    elapsed = time.perf_counter() - t0
    counts = TerminalMachine.counts
    return {
        "examples": examples,
        "steps_per_example": steps,
        "rules_run": sum(counts.values()),
        "rules_never_run": sorted(set(RULES) - set(counts)),
        "journal_full_reached": counts.get("journal_full_reached", 0),
        "seconds": round(elapsed, 1),
    }
