"""The terminal at the door: identification, recording, feedback, modes (MicroPython, sans-IO).

``Terminal`` is the model of the state table in ``firmware/states.py``: its guards and actions
are the methods named there. It is fed events with the time (``now_ms``, monotonic
milliseconds) and returns actions for the board: :class:`Show`, :class:`Beep`, :class:`Led`,
:class:`SetRtc`, :class:`Reboot`. It opens no socket and reads no clock; ``firmware/main.py``
(on a board) and ``simulator/door.py`` (on the desktop) drive it. The uplink to the service is
``firmware.uplink.Uplink``, driven by the same loop.

A tap answers OK only after ``Journal.append`` returned a sequence number: the punch is on flash.
"""

from micropython import const

from firmware import VERSION, eventlog, texts
from firmware.clock import plausible
from firmware.fsm import Machine
from firmware.journal import FULL, STATE_FULL, STATE_NEARLY_FULL
from firmware.punch import (
    FLAG_OFFLINE,
    FLAG_UNKNOWN_CREDENTIAL,
    KIND_BREAK_END,
    KIND_BREAK_START,
    KIND_CLOCK_IN,
    KIND_CLOCK_OUT,
    KIND_UNSPECIFIED,
    METHOD_CARD_AND_FINGER,
    METHOD_FELICA,
    METHOD_FINGER,
    Punch,
)
from firmware.states import STATES, TABLE
from protocol.client import firmware_allowed
from protocol.codes import CREDENTIAL_TAKEN, MAINTENANCE, UNKNOWN_EMPLOYEE

_IDENTIFY_MS = const(10000)
_SERVICE_MS = const(60000)
_PIN_MS = const(15000)
_ENROL_CODE_MS = const(30000)  # typing an employee code
_ENROL_WAIT_MS = const(35000)  # the receiver's answer (the client's own deadline is 15 s)
_KIND_HOLD_MS = const(10000)  # a kind chosen with a key applies to taps within this time
_PIN_FREE_TRIES = const(3)  # wrong PINs before service entry is locked
_PIN_LOCK_S = const(30)  # the first lock; it doubles with each further wrong PIN ...
_PIN_LOCK_MAX_S = const(3600)  # ... up to an hour
_PIN_RECALL_EVENTS = const(24)  # events read back at boot for the wrong-PIN count
_WRONG_PIN = "wrong PIN "
_CONSOLE_LOGOUT = "console logout"  # firmware/console.py's event 80 at the end of a login
_RECALL_MAX = const(64)  # punches read back from the journal at boot (double-punch window)


def _pin_lock_s(wrong):
    """Seconds service entry by PIN is locked after ``wrong`` wrong PINs in a row (0: none)."""
    if wrong < _PIN_FREE_TRIES:
        return 0
    return min(_PIN_LOCK_S << min(wrong - _PIN_FREE_TRIES, 7), _PIN_LOCK_MAX_S)


KIND_KEYS = {
    "in": KIND_CLOCK_IN,
    "out": KIND_CLOCK_OUT,
    "break_start": KIND_BREAK_START,
    "break_end": KIND_BREAK_END,
}


class Show:
    """Display lines; ``style`` is ready, ok, offline, error, info or service."""

    def __init__(self, lines, style):
        self.lines = lines
        self.style = style

    def __repr__(self):
        return "Show(%s: %s)" % (self.style, " | ".join(self.lines))


class Beep:
    """A beep pattern: ok (one short), offline (two short), error (one long)."""

    def __init__(self, pattern):
        self.pattern = pattern

    def __repr__(self):
        return "Beep(%s)" % self.pattern


class Led:
    def __init__(self, pattern):
        self.pattern = pattern  # green, amber, red, off

    def __repr__(self):
        return "Led(%s)" % self.pattern


class SetRtc:
    def __init__(self, epoch):
        self.epoch = epoch


class Reboot:
    pass


class SyncClock:
    """Ask NTP for the time (boards that have it); answer with ``Terminal.ntp_result``."""

    def __repr__(self):
        return "SyncClock()"


class Card:
    """A card read: ``idm`` bytes; ``count`` cards in the field; ``stable`` false when the ID
    changed between two reads (random-ID cards); ``readable`` false when reads failed."""

    def __init__(self, idm=b"", count=1, stable=True, readable=True):
        self.idm = bytes(idm)
        self.count = count
        self.stable = stable
        self.readable = readable
        self.employee = None  # filled by the terminal before the event is fired


class Finger:
    """A finger module result: match (with ``template``), no_match, poor, no_finger; in service
    mode also enrolled (the module stored a new finger under ``template``) or enrol_failed.
    ``score`` is the module's match score (0 when it gives none); ``detail`` why an enrolment
    failed or how a hybrid reader decided (hardware/fingerprint.py, hardware/hybrid.py)."""

    def __init__(self, result, template=0, score=0, detail=""):
        self.result = result
        self.template = template
        self.score = score
        self.detail = detail
        self.employee = None


class Terminal:
    def __init__(self, journal, roster, config, log, clock, boot_id=0, board="sim"):
        self.journal = journal
        self.roster = roster
        self.config = config
        self.log = log
        self.clock = clock
        self.boot_id = boot_id
        self.board = board
        self.machine = Machine(self, STATES, TABLE, "booting")
        self.actions = []
        self.mode = "unknown"  # online, offline, maintenance, refused (from the uplink)
        self.maintenance_end = None
        self._min_offline_fw = ""
        self.firmware = VERSION
        self._deadline = None
        self._kind = None  # (kind, until_ms) chosen with a key
        self._recent = {}  # who -> time of the last punch (double-punch window)
        self._who = None  # employee being identified (card then finger)
        self._cred = b""
        self._method = METHOD_FELICA
        self._retries = 0
        self._pin = ""
        self._pin_wrong = 0  # wrong PINs in a row (reset by a right one)
        self._pin_locked_until = 0  # no service entry by PIN before this (ms)
        self._drawn = (-2, -1)  # (minute, kind) on the idle screen, to redraw when they change
        self._enrol = (0, b"")  # (method, credential) being enrolled
        self._enrol_code = ""
        # (employee code, method, credential) for the uplink to send (PRT-ENROL-1), or None.
        self.enrol_request = None
        self._journal_state = None
        self._now = 0
        self.last_seq = 0
        self._ntp_asked = False
        self._pending = (None, Punch(0))  # (event, punch) of the tap being recorded
        self.taps = 0
        self._time_refused = False  # a refused time was logged (once per streak)
        self._seq_at_tap = 0  # last_seq when the tap began (did the failed tap store a punch?)

    # ------------------------------------------------------------------- events in

    def _take(self):
        out = self.actions
        self.actions = []
        return out

    def boot(self, now_ms, rtc_epoch=None, reader_fault=None, part_problems=()):
        """Start: configuration, journal and roster are already mounted by the caller.

        The self-test needs no service (MNT-06): the board's reader check (``reader_fault``: None
        when the reader answered, else what went wrong) and what the journal and roster found
        when mounting are logged, and what the board's other parts found (``part_problems``:
        texts "slot: ..." from hardware/board.py); a reader that failed puts the terminal in
        ``reader_fault`` until the reader reports back. A damaged journal or roster still punches.
        """
        self._now = now_ms
        self.use_config()
        if rtc_epoch is not None and not plausible(rtc_epoch):
            self._refuse_time(now_ms, rtc_epoch, "RTC")
        if not self.clock.from_rtc(now_ms, rtc_epoch):
            self._log(now_ms, eventlog.CLOCK_INVALID, "no valid RTC at boot")
        self._log(now_ms, eventlog.BOOT, "boot %d fw %s %s" % (self.boot_id, VERSION, self.board))
        self._journal_state = self.journal.state()
        for problem in self._self_test(reader_fault) + list(part_problems):
            self._log(now_ms, eventlog.SELF_TEST, problem[:106])
        self._recall_recent(now_ms)
        self._recall_pin_lock(now_ms)
        self.machine.fire("booted")
        if reader_fault is not None:
            self.machine.fire("reader_fault")
        return self._take()

    def use_config(self):
        """Pass the configuration's values on to the clock and the journal (at boot and after
        the service changed the configuration)."""
        self.clock.utc_offset_min = self.config["utc_offset_min"]
        self.clock.jump_log_s = self.config["clock_jump_log_s"]
        self.journal.nearly_full_percent = self.config["nearly_full_percent"]
        self._min_offline_fw = self.config["min_offline_fw"]

    @property
    def min_offline_fw(self):
        """The service's minimum firmware for offline punching (MNT-08), kept on flash in the
        configuration so that it holds after a reboot without the service."""
        return self._min_offline_fw

    @min_offline_fw.setter
    def min_offline_fw(self, version):
        if version == self._min_offline_fw:
            return
        self._min_offline_fw = version
        reason = self.config.apply(self.config.version, {"min_offline_fw": version})
        if reason is not None:
            self._log(self._now, eventlog.CONFIG_REJECTED, ("min_offline_fw: " + reason)[:106])

    def _recall_recent(self, now_ms):
        """The double-punch window across a reboot: the journal's last punches, those inside
        the window by the valid clock, are remembered as if just taken (RAM held none)."""
        window = self.config["double_punch_s"]
        epoch = self.clock.now(now_ms)
        if window <= 0 or epoch is None:
            return  # the age of an earlier boot's punch is unknown until the clock is set
        seq = self.journal.next_seq - 1
        low = seq - _RECALL_MAX
        while seq > 0 and seq > low:
            punch = self.journal.read(seq)
            seq -= 1
            if punch is None or not punch.clock_synced:
                continue
            age = epoch - punch.time
            if age >= window:
                break
            if age < 0:
                continue
            who = self.who_of_punch(punch)
            if who not in self._recent:
                self._recent[who] = now_ms - age * 1000

    def _recall_pin_lock(self, now_ms):
        """Wrong PINs in a row survive a reboot (else power-cycling would reset the lock): the
        newest service-mode event in the log's last few that counts says how many (a wrong
        PIN; a right one, "enter" or "console login", resets); a lock starts anew. A leave or
        a console logout counts nothing: a logout after wrong keypad PINs must not hide them."""
        log = self.log
        if log is None:
            return
        newest = None
        for event in log.events(log.next_n - 1 - _PIN_RECALL_EVENTS, _PIN_RECALL_EVENTS):
            if event["code"] == eventlog.SERVICE_MODE:
                text = event["text"]
                if text != "leave" and not text.startswith(_CONSOLE_LOGOUT):
                    newest = text
        if newest is None or not newest.startswith(_WRONG_PIN):
            return
        try:
            self._pin_wrong = int(newest[len(_WRONG_PIN) :].split(" ", 1)[0])
        except ValueError:
            return
        lock = _pin_lock_s(self._pin_wrong)
        if lock:
            self._pin_locked_until = now_ms + lock * 1000

    def who_of_punch(self, punch):
        """The employee code of a punch's credential, or "?" and the credential in hex."""
        cred = punch.credential
        employee = None
        if punch.method == METHOD_FINGER and len(cred) == 2:
            employee = self.roster.lookup_finger((cred[0] << 8) | cred[1])
        elif punch.method in (METHOD_FELICA, METHOD_CARD_AND_FINGER):
            employee = self.roster.lookup_card(cred)
        return employee.code if employee is not None else "?" + cred.hex()

    def _self_test(self, reader_fault):
        found = []
        if reader_fault is not None:
            found.append("reader: %s" % (reader_fault or "no answer"))
        if self.journal.issues:
            found.append(
                "journal: %d problems at mount, first %r"
                % (len(self.journal.issues), self.journal.issues[0])
            )
        for problem in self.roster.problems:
            found.append("roster: " + problem)
        return found

    def card(self, now_ms, card):
        self._now = now_ms
        self.taps += 1
        self._seq_at_tap = self.last_seq
        try:
            self._end_tap()  # a card always starts a new tap
            self._space_before_tap()
            if card.readable and card.count == 1 and card.stable:
                card.employee = self.roster.lookup_card(card.idm)
            self.machine.fire("card", card)
        except Exception as e:  # nothing may escape a tap
            self._tap_failed("card", e)
        return self._take()

    def finger(self, now_ms, finger):
        self._now = now_ms
        self._seq_at_tap = self.last_seq
        try:
            if self.machine.state != "identifying":
                self._end_tap()  # a finger continues a tap only while one is being identified
            self._space_before_tap()
            if finger.result == "match":
                finger.employee = self.roster.lookup_finger(finger.template)
            self.machine.fire("finger", finger)
        except Exception as e:
            self._tap_failed("finger", e)
        return self._take()

    def _space_before_tap(self):
        # The upload may have freed a slot since the last tick (the board's loop runs input
        # first, network last): the tap is taken, not refused as full.
        if self.machine.state == "journal_full" and self.journal.free_slots() > 0:
            self.machine.fire("space")

    def key(self, now_ms, key):
        self._now = now_ms
        try:
            self.machine.fire("key", key)
        except Exception as e:
            self._tap_failed("key", e)
        return self._take()

    def _tap_failed(self, what, e):
        """An error inside a tap (a bug, a bad roster record, a flash fault): logged, answered
        with an error screen, and the terminal goes on. Raised into the board's loop it would
        stop the terminal for good (issue 15, item 13)."""
        self.machine._queue = []  # events queued by the transition that failed
        self.machine.state = "feedback"  # its time-out returns to ready (or what applies)
        self._end_tap()  # nothing of the failed tap leaks into the next
        self.actions = []
        try:
            self._log(self._now, eventlog.TAP_FAILED, ("%s: %r" % (what, e))[:106])
        except Exception:  # the log's flash may be what failed
            pass
        if self.last_seq != self._seq_at_tap:  # the punch is on flash: say so, plainly
            lang = self.config["language"]
            self._screen((texts.text("ok", lang),), "ok", "ok", "green")
        else:
            self._refuse("store_failed")

    def reader_fault(self, now_ms, detail):
        self._now = now_ms
        self._log(now_ms, eventlog.READER_FAULT, detail)
        self.machine.fire("reader_fault")
        return self._take()

    def reader_notice(self, now_ms, detail):
        """A part of the reader failed or came back, but the terminal still identifies with
        the others (a BT-style reader's finger module while cards punch): logged, no state."""
        self._now = now_ms
        self._log(now_ms, eventlog.READER_FAULT, detail[:106])
        return self._take()

    def reader_ok(self, now_ms):
        self._now = now_ms
        if self.machine.state == "reader_fault":
            self._log(now_ms, eventlog.READER_RECOVERED, "")
        self.machine.fire("reader_ok")
        return self._take()

    def tick(self, now_ms):
        """Timers and background work; call often (every 100 ms or so)."""
        self._now = now_ms
        if self._deadline is not None and now_ms >= self._deadline:
            self._deadline = None
            self.machine.fire("timeout")
        idle = self.machine.state in ("ready", "clock_invalid")
        if idle:
            self.journal.prepare()  # pre-erase the next sector: never on the tap path
        self._check_journal(now_ms)
        if idle and self.machine.state in ("ready", "clock_invalid") and self._stale():
            self.machine.fire("refresh")  # a new minute, or the kind a tap would take changed
        if self.config["ntp"] and not self._ntp_asked and now_ms >= self.clock.next_sync_ms:
            self._ntp_asked = True
            self.actions.append(SyncClock())
        return self._take()

    def ntp_result(self, now_ms, epoch):
        """The answer to :class:`SyncClock`: UTC seconds, or None when NTP failed."""
        self._now = now_ms
        self._ntp_asked = False
        if epoch is None:
            retry = self.clock.sync_failed(now_ms)
            self._log(
                now_ms, eventlog.CLOCK_SYNC_FAILED, "NTP; next in %d s" % ((retry - now_ms) // 1000)
            )
            return self._take()
        self.set_clock(now_ms, epoch, "ntp")
        return self._take() + self.status_changed(now_ms)

    def set_clock(self, now_ms, epoch, source):
        """Set the clock from a trusted source: log it, and a jump above the threshold. A time
        outside the sane range is refused (logged once per streak); returns False then."""
        if not plausible(epoch):
            self._refuse_time(now_ms, epoch, source)
            return False
        self._time_refused = False
        was_valid = self.clock.valid
        jump = self.clock.set(now_ms, epoch, source)
        if not self.clock.valid:
            return False
        if not was_valid:
            self._log(now_ms, eventlog.CLOCK_SET, "set by %s" % source)
            self.actions.append(SetRtc(epoch))
            self._recall_recent(now_ms)  # booted without a clock: the window, now measurable
        elif self.clock.big_jump(jump):
            self._log(now_ms, eventlog.CLOCK_JUMP, "%+d s by %s" % (jump, source))
            self.actions.append(SetRtc(epoch))
        return True

    def _refuse_time(self, now_ms, epoch, source):
        if not self._time_refused:  # a receiver stuck at a bad time answers every heartbeat
            self._time_refused = True
            self._log(now_ms, eventlog.CLOCK_REFUSED, "%d by %s out of range" % (epoch, source))

    def _stale(self):
        """True if the idle screen no longer shows the current minute or the kind a tap would
        record now (a kind key's hold ran out, the schedule moved on)."""
        epoch = self.clock.now(self._now)
        minute = -1 if epoch is None else epoch // 60
        drawn = self._drawn
        return drawn[0] != minute or drawn[1] != self._current_kind()

    def status_changed(self, now_ms):
        """The uplink changed mode, clock or counts: redraw the idle screen."""
        self._now = now_ms
        if self.clock.valid and self.machine.state == "clock_invalid":
            self.machine.fire("clock_valid")
        else:
            self.machine.fire("refresh")
        return self._take()

    # ---------------------------------------------------------------------- guards

    def journal_is_full(self, data=None):
        return self.journal.free_slots() == 0

    def clock_is_valid(self, data=None):
        return self.clock.valid

    def card_is_bad(self, card):
        return not card.readable or card.count != 1 or not card.stable

    def card_is_admin(self, card):
        return card.idm.hex() in self.config["admin_cards"]

    def card_not_allowed(self, card):
        """A card where the configured method is the finger alone."""
        return self.config["identify_mode"] == "finger"

    def finger_not_allowed(self, finger):
        """A finger where the configured method is the card alone, or a finger with no card
        before it where the method is card then finger."""
        mode = self.config["identify_mode"]
        if mode == "card":
            return True
        if mode == "card_then_finger":
            return not (self.machine.state == "identifying" and self._who is not None)
        return False

    def who_unknown(self, card):
        return card.employee is None

    def unknown_refused(self, data=None):
        return self.config["unknown_card"] == "refuse"

    def can_punch_now(self, data=None):
        """MNT-07 and MNT-08: offline punching allowed by configuration and firmware version."""
        if self.mode == "online":
            return True
        if not self.config["offline_punching"]:
            return False
        return firmware_allowed(self.firmware, self.min_offline_fw)

    def _who_key(self, data):
        if data.employee is not None:
            return data.employee.code
        return "?" + self._cred_of(data).hex()

    def is_double(self, data):
        last = self._recent.get(self._who_key(data))
        window = self.config["double_punch_s"] * 1000
        return last is not None and window > 0 and self._now - last < window

    def needs_finger(self, card):
        mode = self.config["identify_mode"]
        return mode == "card_then_finger" and card.employee is not None

    def finger_matched(self, finger):
        if finger.result != "match" or finger.employee is None:
            return False
        if self.machine.state == "identifying" and self._who is not None:
            return finger.employee.code == self._who.code  # card then finger: the same person
        return True

    def retries_exhausted(self, finger):
        return self._retries + 1 >= self.config["finger_retry_limit"]

    def key_is_kind(self, key):
        return key in KIND_KEYS

    def key_is_service(self, key):
        return key == "service" and self.config["service_pin"] != ""

    def pin_locked(self, key=None):
        return self._now < self._pin_locked_until

    def pin_is_right(self, key):
        return key == "ok" and self._pin == self.config["service_pin"] and not self.pin_locked()

    def pin_is_wrong(self, key):
        """A wrong PIN, or any PIN while entry is locked (the service console's login can
        start a lock while a PIN is being typed here): refused, a locked one not counted."""
        return key == "ok" and (self._pin != self.config["service_pin"] or self.pin_locked())

    def key_is_exit(self, key):
        return key in ("cancel", "service")

    # --------------------------------------------------------------------- display

    def _lang(self, employee=None):
        if employee is not None and employee.lang in ("ja", "en"):
            return employee.lang
        return self.config["language"]

    def _status_line(self, lang):
        if self.mode == "maintenance":
            line = texts.text("maintenance", lang)
            if self.maintenance_end is not None:
                end = self.clock_text(self.maintenance_end)
                line += " " + texts.text("maintenance_until", lang) % end
            return line
        if self.mode in ("offline", "refused", "unknown"):
            line = texts.text("offline", lang)
        else:
            line = texts.text("online", lang)
        if self._journal_state == STATE_NEARLY_FULL:
            line += " " + texts.text("journal_nearly_full", lang)
        elif self.journal.unsent_count:
            line += " " + texts.text("unsent", lang) % self.journal.unsent_count
        return line

    def clock_text(self, epoch):
        m = ((epoch + self.clock.utc_offset_min * 60) // 60) % 1440
        return "%02d:%02d" % (m // 60, m % 60)

    def _end_tap(self):
        """Forget the identification under way: every way out of a tap starts the next one
        clean (no card, person or failed finger attempts carried over)."""
        self._who = None
        self._cred = b""
        self._retries = 0

    def _screen(self, lines, style, beep=None, led=None, hold=True, tap_goes_on=False):
        if not tap_goes_on:
            self._end_tap()
        self.actions.append(Show(tuple(lines), style))
        if beep is not None:
            self.actions.append(Beep(beep))
        if led is not None:
            self.actions.append(Led(led))
        self._deadline = self._now + self.config["feedback_ms"] if hold else None

    def _refuse(self, key, lang=None):
        lang = lang or self.config["language"]
        self._screen((texts.text(key, lang),), "error", "error", "red")

    def show_ready(self, data=None):
        lang = self.config["language"]
        kind = self._current_kind()
        prompt = "ready_finger" if self.config["identify_mode"] == "finger" else "ready"
        first = self.clock.hhmm(self._now) + " " + texts.kind_name(kind, lang)
        if not self.clock.valid:
            first = texts.text("clock_invalid", lang) + " " + texts.kind_name(kind, lang)
        self.actions.append(
            Show((first, texts.text(prompt, lang), self._status_line(lang)), "ready")
        )
        self.actions.append(Led("green" if self.mode == "online" else "amber"))
        self._deadline = None
        self._end_tap()
        epoch = self.clock.now(self._now)
        self._drawn = (-1 if epoch is None else epoch // 60, kind)

    def show_full(self, data=None):
        lang = self.config["language"]
        self._screen(
            (texts.text("journal_full", lang), self._status_line(lang)),
            "error",
            "error",
            "red",
            False,
        )

    def say_full(self, data=None):
        self._refuse("journal_full")
        self._deadline = None

    def show_reader_fault(self, data=None):
        self._screen(
            (texts.text("reader_fault", self.config["language"]),), "error", "error", "red", False
        )

    def refuse_card(self, card):
        self._refuse(self._bad_card_key(card))

    def _bad_card_key(self, card):
        if card.count > 1:
            return "multiple"
        if not card.stable:
            return "random_id"
        return "unreadable"

    def refuse_unknown(self, card):
        self._log(self._now, eventlog.UNKNOWN_CARD, "refused " + card.idm.hex())
        self._refuse("unknown_refused")

    def refuse_offline(self, data):
        lang = self._lang(data.employee)
        if self.config["offline_punching"]:
            self._refuse("old_firmware", lang)
        elif self.mode == "maintenance":  # MNT-07 in the service's maintenance: say so
            self._screen((self._status_line(lang),), "error", "error", "red")
        else:
            self._refuse("always_online", lang)

    def refuse_method(self, data):
        """A card or a finger the configured identification method does not take."""
        mode = self.config["identify_mode"]
        key = "use_card"
        if mode == "finger":
            key = "use_finger"
        elif mode == "card_then_finger":
            key = "card_first"
        self._refuse(key)

    def say_already(self, data):
        lang = self._lang(data.employee)
        name = data.employee.name if data.employee is not None else ""
        self._screen((name, texts.text("already", lang)), "info", "error", "amber")

    def prompt_finger(self, card):
        self._who = card.employee
        self._cred = card.idm
        self._retries = 0
        lang = self._lang(card.employee)
        self._screen(
            (card.employee.name, texts.text("finger_prompt", lang)), "info", tap_goes_on=True
        )
        self._deadline = self._now + _IDENTIFY_MS
        if self._kind is not None and self._kind[1] < self._deadline:
            self._kind = (self._kind[0], self._deadline)  # a key pressed before the card holds

    def prompt_retry(self, finger):
        self._retries += 1
        lang = self.config["language"]
        key = {
            "poor": "finger_poor",
            "no_finger": "finger_none",
            "disagree": "finger_disagree",  # a hybrid reader: print and vein differ
            "no_vein": "finger_no_vein",
        }.get(finger.result, "finger_no_match")
        self._screen((texts.text(key, lang),), "info", "error", tap_goes_on=True)
        self._deadline = self._now + _IDENTIFY_MS

    def say_not_recognised(self, finger):
        self._log(
            self._now, eventlog.READER_FAULT, "finger not recognised %d times" % (self._retries + 1)
        )
        self._refuse("finger_failed")

    def say_pin_wrong(self, key):
        self._pin = ""
        if self.pin_locked():  # the console's login locked entry while this PIN was typed
            self.say_pin_locked(key)
            return
        self._count_wrong_pin("")
        self._refuse("pin_wrong")

    def _count_wrong_pin(self, where):
        """A wrong PIN, by the keypad or the service console (``where``: "" or " (console)"):
        one count for both, logged; after a few in a row service entry by PIN is locked, for
        30 s, then twice as long at each further wrong PIN, up to an hour."""
        self._pin_wrong += 1
        text = _WRONG_PIN + "%d in a row" % self._pin_wrong
        lock = _pin_lock_s(self._pin_wrong)
        if lock:
            self._pin_locked_until = self._now + lock * 1000
            text += "; locked %d s" % lock
        self._log(self._now, eventlog.SERVICE_MODE, text + where)

    def check_pin(self, now_ms, pin, where=" (console)"):
        """A service PIN given outside the keypad's state table (the service console's
        ``login``): "right", "wrong", "locked", or "off" when no ``service_pin`` is set (as the
        service key then, nothing is counted). The keypad's wrong-PIN count and lock are this
        one: a wrong PIN here counts toward the keypad's lock, and a lock holds for both."""
        self._now = now_ms
        expected = self.config["service_pin"]
        if expected == "":
            return "off"
        if self.pin_locked():
            return "locked"
        if pin != expected:
            self._count_wrong_pin(where)
            return "wrong"
        self._pin_wrong = 0
        return "right"

    def pin_tries_left(self):
        """PINs that may still be tried before a lock (the last of them, wrong, locks)."""
        return max(_PIN_FREE_TRIES - self._pin_wrong, 1)

    def pin_lock_left_s(self, now_ms):
        """Seconds the PIN lock still holds (0: none)."""
        return max((self._pin_locked_until - now_ms + 999) // 1000, 0)

    def say_pin_locked(self, key):
        wait = (self._pin_locked_until - self._now + 999) // 1000
        lang = self.config["language"]
        self._screen((texts.text("pin_locked", lang), "%d s" % wait), "error", "error", "red")

    # --------------------------------------------------------------------- punching

    def _cred_of(self, data):
        if isinstance(data, Card):
            return data.idm
        if self._who is not None:
            return self._cred  # card then finger: the card identifies
        return bytes(((data.template >> 8) & 0xFF, data.template & 0xFF))

    def _current_kind(self):
        if not self.config["keys_present"]:
            return KIND_UNSPECIFIED
        if self._kind is not None and self._now < self._kind[1]:
            return self._kind[0]
        minutes = self.clock.local_minutes(self._now)
        if minutes is None:
            return KIND_UNSPECIFIED  # no time of day without a valid clock (LNK-03)
        # The schedule is read in the working day (CLK-03): with a day start of 05:00, 03:00 is
        # late in the previous day, so it takes that day's last entry (a clock-out, typically).
        start = self.config["day_start_hour"] * 60
        minutes = (minutes - start) % 1440
        kind = KIND_UNSPECIFIED
        best = -1
        latest = -1
        last_kind = KIND_UNSPECIFIED
        for hour, minute, k in self.config["kind_schedule"]:
            at = (hour * 60 + minute - start) % 1440
            if best < at <= minutes:
                best, kind = at, k
            if at > latest:
                latest, last_kind = at, k
        if best < 0 and latest >= 0:  # before the day's first entry: the previous day's last
            kind = last_kind
        return kind

    def select_kind(self, key):
        self.remember_kind(key)
        self.show_ready()

    def remember_kind(self, key):
        """A kind key: it applies to the next tap within 10 s, or to the tap being identified
        (card then finger) whenever its finger comes."""
        until = self._now + _KIND_HOLD_MS
        if self.machine.state == "identifying" and self._deadline is not None:
            until = max(until, self._deadline)
        self._kind = (KIND_KEYS[key], until)

    def kind_for_this_tap(self, key):
        """A kind key while the finger is awaited: it counts for this tap, and the prompt says
        which kind will be recorded."""
        deadline = self._deadline
        self.remember_kind(key)
        lang = self._lang(self._who)
        name = self._who.name if self._who is not None else ""
        kind = texts.kind_name(KIND_KEYS[key], lang)
        lines = (name, texts.text("finger_prompt", lang), kind)
        self._screen(lines, "info", hold=False, tap_goes_on=True)
        self._deadline = deadline

    def record(self, data):
        employee = data.employee
        if isinstance(data, Card):
            method = METHOD_FELICA
        elif self._who is not None:
            method = METHOD_CARD_AND_FINGER
        else:
            method = METHOD_FINGER
        flags = 0
        if self.mode != "online":
            flags |= FLAG_OFFLINE
        if employee is None:
            flags |= FLAG_UNKNOWN_CREDENTIAL
        epoch = self.clock.now(self._now)
        synced = epoch is not None
        when = epoch if synced else self._now // 1000
        punch = Punch(
            when,
            self._current_kind(),
            method,
            self._cred_of(data),
            synced,
            self.clock.utc_offset_min,
            self.boot_id,
            flags,
        )
        self._pending = (data, punch)
        try:
            seq = self.journal.append(punch)
        except (OSError, ValueError) as e:  # a flash fault, or a punch it cannot hold
            self._log(self._now, eventlog.JOURNAL_ISSUE, "append failed: %s" % e)
            self.machine.fire("store_failed", data)
            return
        if seq == FULL:
            self.machine.fire("store_full", data)
            return
        self.last_seq = seq
        self._kind = None  # a kind chosen with a key is this punch's, not the next person's
        self._recent[self._who_key(data)] = self._now
        self._forget_old()
        self.machine.fire("stored", data)

    def _forget_old(self):
        # Only people inside the double-punch window are remembered: at a busy door that is
        # the taps of the last minute, not everyone who came that day (each entry holds its
        # employee code: about 60 bytes of RAM).
        window = self.config["double_punch_s"] * 1000
        if len(self._recent) > 8:
            for who in list(self._recent):
                if self._now - self._recent[who] >= window:
                    del self._recent[who]

    def say_ok(self, data):
        employee = data.employee
        lang = self._lang(employee)
        punch = self._pending[1]
        offline = punch.flags & FLAG_OFFLINE
        if employee is None:
            first = texts.text("unknown_recorded", lang)
        else:
            first = employee.name
        lines = [first, texts.kind_name(punch.kind, lang) + " " + self.clock.hhmm(self._now)]
        if offline:
            lines.append(texts.text("offline_saved", lang))
        elif employee is not None and employee.lines:
            lines.append(employee.lines[0])  # e.g. remaining overtime (CLK-04)
        else:
            lines.append(texts.text("ok", lang))
        if employee is None:
            self._log(self._now, eventlog.UNKNOWN_CARD, "recorded %s" % punch.credential.hex())
        style = "offline" if offline else "ok"
        self._screen(lines, style, style, "amber" if offline else "green")
        self._who = None
        self._retries = 0

    def say_store_failed(self, data):
        self._refuse("store_failed")

    def _check_journal(self, now_ms):
        free = self.journal.free_slots()
        where = self.machine.state
        if where == "journal_full" and free > 0:
            self.machine.fire("space")  # a slot is free: taps are taken again
        elif free == 0 and where in ("ready", "clock_invalid"):
            self.machine.fire("full")  # say so before the next person taps
        state = self.journal.state()
        if state == self._journal_state:
            return
        if state == STATE_NEARLY_FULL:
            self._log(now_ms, eventlog.JOURNAL_NEARLY_FULL, "%d free" % free)
        elif state == STATE_FULL:
            self._log(now_ms, eventlog.JOURNAL_FULL, "")
        self._journal_state = state

    # ---------------------------------------------------------------------- service

    def prompt_pin(self, key):
        self._pin = ""
        self._screen((texts.text("pin", self.config["language"]), ""), "service")
        self._deadline = self._now + _PIN_MS

    def pin_key(self, key):
        if key.isdigit() and len(self._pin) < 8:
            self._pin += key
        elif key == "cancel":
            self._pin = ""
        self._screen((texts.text("pin", self.config["language"]), "*" * len(self._pin)), "service")
        self._deadline = self._now + _PIN_MS

    def enter_service(self, data=None):
        self._pin_wrong = 0
        self._log(self._now, eventlog.SERVICE_MODE, "enter")
        self.service_page(None)

    def service_page(self, key):
        status = self.journal.status()
        lines = (
            texts.text("service", self.config["language"]) + " " + VERSION,
            "%s %s" % (self.mode, self.clock.hhmm(self._now)),
            "journal %d/%d unsent" % (status["unsent"], status["capacity"]),
            "roster v%d %d" % (self.roster.version, self.roster.count),
        )
        self._screen(lines, "service")
        self._deadline = self._now + _SERVICE_MS

    def can_enrol(self, data=None):
        """MNT-05: enrolment needs the service (online, not in maintenance)."""
        return self.mode == "online"

    def finger_enrolled(self, finger):
        return finger.result == "enrolled"

    def refuse_enrol(self, data):
        lang = self.config["language"]
        if isinstance(data, Card) and self.card_is_bad(data):
            self._screen((texts.text(self._bad_card_key(data), lang),), "error", "error")
        elif isinstance(data, Finger) and data.result != "enrolled":
            self._screen((texts.text("enrol_finger_failed", lang),), "error", "error")
        else:
            self._screen((texts.text("enrol_offline", lang),), "error", "error")
        self._deadline = self._now + _SERVICE_MS

    def ask_enrol_code(self, data):
        if isinstance(data, Card):
            self._enrol = (METHOD_FELICA, data.idm)
            what = "card " + data.idm.hex()
        else:
            t = data.template
            self._enrol = (METHOD_FINGER, bytes(((t >> 8) & 0xFF, t & 0xFF)))
            what = "finger %d" % data.template
        self._enrol_code = ""
        self._show_enrol_code(what)

    def _show_enrol_code(self, what=""):
        lang = self.config["language"]
        if not what:
            method, cred = self._enrol
            what = ("card " + cred.hex()) if method == METHOD_FELICA else (
                "finger %d" % ((cred[0] << 8) | cred[1]))  # fmt: skip
        self._screen((texts.text("enrol_code", lang), self._enrol_code + "_", what), "service")
        self._deadline = self._now + _ENROL_CODE_MS

    def enrol_code_key(self, key):
        if key == "del":
            self._enrol_code = self._enrol_code[:-1]
        elif len(key) == 1 and (key.isalpha() or key.isdigit()):
            if len(self._enrol_code) < 32:
                self._enrol_code += key.upper()
        self._show_enrol_code()

    def enrol_code_done(self, key):
        return key == "ok" and self._enrol_code != ""

    def send_enrolment(self, key):
        method, cred = self._enrol
        self.enrol_request = (self._enrol_code, method, cred)
        lang = self.config["language"]
        self._screen((texts.text("enrolling", lang), self._enrol_code), "service")
        self._deadline = self._now + _ENROL_WAIT_MS

    def enrol_result(self, now_ms, result):
        """The uplink's answer to :attr:`enrol_request` (``Outcome.enrolment``)."""
        self._now = now_ms
        self.machine.fire("enrolled" if result["ok"] else "enrol_failed", result)
        return self._take()

    def say_enrolled(self, result):
        lang = self.config["language"]
        method = self._enrol[0]
        what = "card" if method == METHOD_FELICA else "finger"
        self._log(self._now, eventlog.ENROLMENT, "%s %s for %s" % (what, self._enrol[1].hex(),
                                                                  result["code"]))  # fmt: skip
        self._screen((texts.text("enrolled", lang), result["name"], result["code"]), "ok", "ok")
        self._deadline = self._now + _SERVICE_MS

    def say_enrol_failed(self, result=None):
        lang = self.config["language"]
        code = result.get("code") if result else None
        key = "enrol_failed"
        if code == UNKNOWN_EMPLOYEE:
            key = "enrol_unknown"
        elif code == CREDENTIAL_TAKEN:
            key = "enrol_taken"
        elif code == MAINTENANCE or (
            result is not None and result.get("error") not in (None, "res")
        ):
            key = "enrol_offline"  # maintenance or the link: MNT-05
        self.enrol_request = None
        detail = "refused [res=%s]" % code if code is not None else "failed: %s" % (
            "no answer" if result is None else result.get("error"))  # fmt: skip
        self._log(self._now, eventlog.ENROLMENT, ("%s %s" % (self._enrol_code, detail))[:106])
        self._screen((texts.text(key, lang), self._enrol_code), "error", "error")
        self._deadline = self._now + _SERVICE_MS

    def leave_service(self, data=None):
        self._log(self._now, eventlog.SERVICE_MODE, "leave")  # the row then shows the idle screen

    # ------------------------------------------------------------------------ misc

    def _log(self, now_ms, code, text):
        if self.log is None:
            return
        self.log.append(code, text, self.clock.now(now_ms), now_ms // 1000, self.boot_id)

    @property
    def state(self):
        return self.machine.state
