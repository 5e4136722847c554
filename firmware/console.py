"""The service console: a line protocol on the board's serial/USB console (MicroPython, sans-IO).

``Console(loop, stimuli=None)`` serves the board loop of ``firmware/main.py``: ``loop.turn()``
calls :meth:`Console.poll` every turn with the time, and the console reads
``board.console_read()`` (bytes since the last call, b"" when none, None when the peer hung up)
and answers with ``board.console_write(data)``. It reads no clock and opens nothing itself.

The protocol (docs/HARDWARE.md, "Service console"): a line ends with LF, CR LF or a bare CR;
every line gets zero or more text lines and then exactly one final line, ``ok``, ``ok: TEXT`` or
``error: TEXT`` (replies end with CR LF; an empty line is answered ``ok``, a way to sync). At
the first poll one banner line is written. Limits, so that a flood never delays a tap:

- a line holds at most ``LINE_MAX`` (200) bytes; a longer one is answered
  ``error: line too long (max 200)`` at once and the rest of it is dropped up to its end;
- at most ``LINES_PER_POLL`` (4) lines and ``BYTES_PER_POLL`` (512) bytes are taken per turn;
  the rest of what was read waits for the next turns, and nothing more is read until it is
  taken (the board's own buffer, a UART FIFO or a pty, then holds back the sender);
- a long answer (``log all``, ``journal 100``) goes out ``OUT_LINES_PER_POLL`` (16) lines per
  turn, and the next line is taken when it is done.

Changes (``config set``, ``reboot``) need ``login PIN`` with the terminal's ``service_pin``:
the same count of wrong PINs and the same lock as the keypad's service key
(``Terminal.check_pin``); a login ends at ``logout``, at a hang-up, or after 5 minutes without
a command. With an empty ``service_pin`` there is no login, as there is no PIN entry by the key.

Stimuli (``card``, ``lift``, ``finger``, ``enrol``, ``key``, ``net``, ``power cut``) exist only
in a test build: a virtual board passes an object with those methods as ``stimuli``; a real
device passes None and these commands answer ``error: not a test build``.

Nothing raises into the loop: an exception inside a command is answered
``error: internal: ...`` and logged (event 92), and the terminal goes on punching; a stream
that raises on read or write is taken as a hang-up and logged once until it works again. Only
a ``BaseException`` that is not an ``Exception`` (a stimulus that cuts the power) goes through.
"""

import json
from binascii import unhexlify

from micropython import const

from firmware import VERSION, config, eventlog, journal, roster
from firmware.punch import KIND_NAMES, METHOD_FINGER, METHOD_NAMES
from hardware.rtc import civil_from_days
from protocol import VERSION as PROTOCOL_VERSION
from protocol.messages import clean

LINE_MAX = const(200)
LINES_PER_POLL = const(4)
BYTES_PER_POLL = const(512)
OUT_LINES_PER_POLL = const(16)
LOGIN_IDLE_MS = const(300000)  # a login ends after 5 minutes without a command
HOLD_MS = const(800)  # a card or finger held this long unless said
_HOLD_MAX_MS = const(60000)
_CUT_AFTER_MAX = const(1000)  # flash writes a test may arm a power cut ahead
JOURNAL_DEFAULT = const(10)
JOURNAL_MAX = const(100)
LOG_DEFAULT = const(20)
LOG_MAX = const(10000)
_LOG_BATCH = const(8)  # events read from flash per step of a long answer
_ECHO_MAX = const(24)  # characters of an unknown command quoted back
_CR = const(13)
_LF = const(10)
_TAB = const(9)
_DEL = const(127)
_CRLF = b"\r\n"
_QUALITIES = ("good", "smudged", "disordered", "few")

# Every text the console writes (the display's own texts are firmware/texts.py).
TEXTS = {
    "banner": "dakoku %s %s %s: console ready, 'help' lists the commands",
    "test_build": " (test build: stimuli on)",
    "too_long": "line too long (max %d)" % LINE_MAX,
    "not_text": "not text",
    "unknown": "unknown command '%s' ('help' lists them)",
    "usage": "usage: %s",
    "internal": "internal: %s",
    "not_test": "not a test build",
    "login_first": "log in first: login PIN",
    "login_expired": "log in first: login PIN (the login ended after 5 minutes without a command)",
    "logged_in": "logged in (ends at 'logout', a hang-up or 5 minutes without a command)",
    "logged_out": "logged out",
    "not_logged_in": "not logged in",
    "pin_off": "no service_pin is set: there is no login (as there is no PIN entry by the key)",
    "pin_wrong": "wrong PIN (%d tries left before a lock)",
    "pin_wrong_locked": "wrong PIN; PIN entry locked for %d s",
    "pin_locked": "PIN entry locked, %d s left",
    "no_screen": "this board does not say what its display shows",
    "unchanged": "unchanged",
    "rebooting": "rebooting",
    "power_cut": "power cut",
    "power_cut_armed": "power cut armed: before flash write %d from now",
    "no_key": "unknown key '%s' ('config get' lists them)",
    "bad_number": "%s must be a whole number %d..%d",
    "bad_idm": "IDm must be 16 hex digits",
    "bad_quality": "QUALITY must be one of good, smudged, disordered, few",
    "not_in_roster": "not in the roster",
    "missing": "seq=%d missing (recycled or unreadable)",
    "log_login": "console login",
    "log_logout": "console logout: %s",  # firmware/terminal.py's boot recall skips these
    "log_config": "console: %s",
    "log_rejected": "console: %s",
    "log_reboot": "reboot asked on the console",
    "log_failed": "console: %s: %r",
}

_USAGE = {
    "help": "help",
    "status": "status",
    "screen": "screen",
    "journal": "journal [N]  (N 1..%d)" % JOURNAL_MAX,
    "log": "log [N|all]  (N 1..%d)" % LOG_MAX,
    "config": "config get [KEY] | config set KEY VALUE",
    "roster": "roster [IDM]",
    "version": "version",
    "reboot": "reboot",
    "login": "login PIN",
    "logout": "logout",
    "card": "card IDM [HOLD_MS]  (IDM 16 hex digits, HOLD_MS 1..%d)" % _HOLD_MAX_MS,
    "lift": "lift",
    "finger": "finger NAME [good|smudged|disordered|few] [HOLD_MS]",
    "enrol": "enrol PAGE NAME",
    "key": "key NAME",
    "net": "net down|up",
    "power": "power cut [after WRITES]  (WRITES 1..%d)" % _CUT_AFTER_MAX,
}

# (command, what it does), in the order 'help' lists them; the second list only in a test build.
HELP = (
    ("status", "state, mode, clock, journal, uplink, roster, boot, network, faults"),
    ("screen", "what the display shows now"),
    ("journal [N]", "the last N punches (%d)" % JOURNAL_DEFAULT),
    ("log [N|all]", "the last N events of the event log (%d), or all" % LOG_DEFAULT),
    ("config get [KEY]", "the configuration, or one key"),
    ("config set KEY VALUE", "change a key, checked like a service change (login)"),
    ("roster [IDM]", "the roster's version and size, or whose card an IDm is"),
    ("version", "firmware, protocol, board, storage formats"),
    ("reboot", "reboot as after a service reboot (login)"),
    ("login PIN", "log in with the service PIN (for config set and reboot)"),
    ("logout", "end the login"),
    ("help", "this list"),
)
HELP_TEST = (
    ("card IDM [HOLD_MS]", "place a card (held %d ms unless said)" % HOLD_MS),
    ("lift", "take the card or finger away"),
    ("finger NAME [QUALITY] [HOLD_MS]", "place a finger: good, smudged, disordered, few"),
    ("enrol PAGE NAME", "store finger NAME in the module's page PAGE"),
    ("key NAME", "press a key of the board's keymap"),
    ("net down|up", "cut or restore the network"),
    ("power cut [after N]", "cut the power now (the reply comes first), or at flash write N"),
)

_TEST_ONLY = ("card", "lift", "finger", "enrol", "key", "net", "power")


def iso(epoch):
    """UTC seconds as 2026-12-01T09:00:00Z."""
    days, s = divmod(epoch, 86400)
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60)


def _number(text, lo, hi):
    """The whole number ``text`` if it is one within lo..hi, else None."""
    if not text.isdigit() or len(text) > 9:
        return None
    n = int(text)
    return n if lo <= n <= hi else None


def _word(text):
    """A free text as one field: control characters cleaned, spaces kept."""
    return clean(text) if text else "-"


class Console:
    def __init__(self, loop, stimuli=None):
        self.loop = loop
        self.board = loop.board
        self.stimuli = stimuli
        self._read = self.board.console_read
        self._write = self.board.console_write
        self._line = bytearray(LINE_MAX)  # the line being typed
        self._n = 0
        self._bad = False  # the line holds a control byte
        self._skip = False  # the rest of an over-long line is being dropped
        self._after_cr = False  # a LF right after a CR ends nothing
        self._data = b""  # what console_read gave that is not taken yet
        self._pos = 0
        self._more = None  # the rest of a long answer (a generator of lines)
        self._out = []  # lines to write at the end of this poll
        self._login_at = -1  # ms of the last command of a login (-1: not logged in)
        self._expired = False  # the last login ran out by time (said at a gated command)
        self._broken = False  # the stream raised (logged once, until it works again)
        t = loop.terminal
        ident = loop.uplink.client.identity
        banner = TEXTS["banner"] % (VERSION, t.board, ident.terminal)
        if stimuli is not None:
            banner += TEXTS["test_build"]
        self._banner = banner  # type: str | None  # written at the first poll

    # ------------------------------------------------------------------------ the loop

    def poll(self, now_ms):
        """Read what came, answer a few lines, write the replies. Never raises an Exception."""
        if self._banner is not None:
            self._out.append(self._banner)
            self._banner = None
        try:
            self._poll(now_ms)
        except Exception as e:  # a defect here must not stop the terminal
            self._more = None
            self._failed(now_ms, "poll", e)
        if self._out:
            self._flush(now_ms)

    def _poll(self, now_ms):
        if self._pos >= len(self._data):
            try:
                data = self._read()
            except Exception as e:  # a stream that broke is a peer that went
                self._stream_failed(now_ms, "read", e)
                return
            if data is None:
                self._hang_up(now_ms)
                return
            if not data:
                if self._more is None:
                    if self._login_at >= 0 and now_ms - self._login_at >= LOGIN_IDLE_MS:
                        self._expire(now_ms)
                    return  # nothing came: nothing allocated
            else:
                self._data = data
                self._pos = 0
        if self._more is not None:
            self._drain(now_ms)
            if self._more is not None:
                return
        self._take(now_ms)
        if self._more is not None:  # a long answer began: its first lines now
            self._drain(now_ms)

    def _take(self, now_ms):
        data = self._data
        pos = self._pos
        end = min(len(data), pos + BYTES_PER_POLL)
        lines = 0
        buf = self._line
        while pos < end and lines < LINES_PER_POLL and self._more is None:
            b = data[pos]
            pos += 1
            if b == _LF or b == _CR:
                if b == _LF and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = b == _CR
                self._pos = pos  # a command that cuts the power leaves nothing half taken
                self._end_line(now_ms)
                lines += 1
                continue
            self._after_cr = False
            if self._skip:
                continue
            if self._n >= LINE_MAX:
                self._skip = True
                self._n = 0
                self._bad = False
                self._error(TEXTS["too_long"])
                continue
            if (b < 32 and b != _TAB) or b == _DEL:
                self._bad = True
            buf[self._n] = b
            self._n += 1
        self._pos = pos
        if pos >= len(data):
            self._data = b""  # let it go

    def _end_line(self, now_ms):
        if self._skip:  # answered when it grew too long
            self._skip = False
            return
        n = self._n
        self._n = 0
        if self._bad:
            self._bad = False
            self._error(TEXTS["not_text"])
            return
        try:
            line = str(memoryview(self._line)[:n], "utf-8")
        except UnicodeError:
            self._error(TEXTS["not_text"])
            return
        self._command(now_ms, line)

    def _hang_up(self, now_ms):
        """The peer is gone: the half-typed line, what was not taken and a long answer go."""
        self._n = 0
        self._bad = self._skip = self._after_cr = False
        self._data = b""
        self._pos = 0
        self._more = None
        self._out = []  # nobody to read them
        if self._login_at >= 0:
            self._logout(now_ms, "hang-up")

    def _drain(self, now_ms):
        more = self._more
        if more is None:
            return
        try:
            for _ in range(OUT_LINES_PER_POLL):
                line = next(more)
                self._out.append(line)
        except StopIteration:
            self._more = None
        except Exception as e:
            self._more = None
            self._failed(now_ms, "output", e)

    def _flush(self, now_ms):
        out = self._out
        self._out = []
        try:
            self._write(("\r\n".join(out) + "\r\n").encode())
        except Exception as e:  # nobody to tell: the replies go, the door does not stop
            self._stream_failed(now_ms, "write", e)
            return
        self._broken = False

    def _stream_failed(self, now_ms, what, e):
        """The console's stream raised: as a hang-up, logged once until it works again (a
        stream that stays broken must not fill the event log a turn at a time)."""
        if not self._broken:
            self._broken = True
            self._event(now_ms, eventlog.CONSOLE_FAILED, TEXTS["log_failed"] % (what, e))
        self._hang_up(now_ms)

    # ----------------------------------------------------------------------- replies

    def _say(self, line):
        self._out.append(line)

    def _ok(self, text=""):
        self._out.append("ok: " + text if text else "ok")

    def _error(self, text):
        self._out.append("error: " + text)

    def _usage(self, name):
        self._error(TEXTS["usage"] % _USAGE[name])

    def _failed(self, now_ms, what, e):
        self._error((TEXTS["internal"] % ("%r" % (e,)))[:150])
        self._event(now_ms, eventlog.CONSOLE_FAILED, TEXTS["log_failed"] % (what, e))

    def _event(self, now_ms, code, text):
        t = self.loop.terminal
        try:
            self.loop.log.append(code, clean(text)[: eventlog.TEXT_MAX], t.clock.now(now_ms),
                                 now_ms // 1000, t.boot_id)  # fmt: skip
        except Exception:  # the log's flash may be what failed: the reply says the rest
            pass

    # ---------------------------------------------------------------------- commands

    def _command(self, now_ms, line):
        """Answer one line."""
        words = line.split()
        if not words:
            self._ok()  # an empty line: a way to sync
            return
        name = words[0].lower()
        handler = _HANDLERS.get(name)
        if handler is None:
            self._error(TEXTS["unknown"] % clean(words[0][:_ECHO_MAX]))
            return
        if self._login_at >= 0:
            if now_ms - self._login_at >= LOGIN_IDLE_MS:
                self._expire(now_ms)
            else:
                self._login_at = now_ms
        if name in _TEST_ONLY and self.stimuli is None:
            self._error(TEXTS["not_test"])
            return
        try:
            handler(self, now_ms, words, line)
        except Exception as e:  # said and logged; the terminal goes on
            self._more = None
            self._failed(now_ms, name, e)

    def _expire(self, now_ms):
        self._logout(now_ms, "5 minutes without a command")
        self._expired = True

    def _needs_login(self):
        if self._login_at >= 0:
            return False
        self._error(TEXTS["login_expired"] if self._expired else TEXTS["login_first"])
        return True

    def _help(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("help")
        rows = HELP + HELP_TEST if self.stimuli is not None else HELP
        for usage, what in rows:
            self._say("%-32s %s" % (usage, what))
        self._ok()

    def _status(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("status")
        loop = self.loop
        t = loop.terminal
        board = self.board
        say = self._say
        say("state: " + t.machine.state)
        mode = t.mode
        if mode == "maintenance" and t.maintenance_end is not None:
            mode += " until=" + iso(t.maintenance_end)
        say("mode: " + mode)
        epoch = t.clock.now(now_ms)
        if epoch is None:
            say("clock: valid=no time=- utc_offset_min=%d" % t.clock.utc_offset_min)
        else:
            say("clock: valid=yes time=%s utc_offset_min=%d" % (iso(epoch), t.clock.utc_offset_min))
        s = loop.journal.status()
        seq = s["next_seq"]
        say("journal: total=%d unsent=%d free=%d next_seq=%d capacity=%d"
            % (seq - 1, s["unsent"], s["free"], seq, s["capacity"]))  # fmt: skip
        up = loop.uplink
        last = up.last_delivery_ms
        say("uplink: delivered=%d last_delivery_s_ago=%s failure_streak=%d"
            % (up.delivered, "never" if last is None else "%d" % ((now_ms - last) // 1000),
               up.failure_streak))  # fmt: skip
        failure = up.last_failure
        if failure is None:
            say("uplink_error: -")
        else:  # the newest kind of failure in the streak; its text is in the event log
            kind, error, code, status = failure
            code = "-" if code is None else "%d" % code
            status = "%d" % status if status else "-"
            say("uplink_error: request=%s error=%s code=%s http=%s" % (kind, error, code, status))
        say("roster: version=%d count=%d" % (loop.roster.version, loop.roster.count))
        say("boot: id=%d up_s=%d" % (t.boot_id, now_ms // 1000))
        detail = board.net_detail() if hasattr(board, "net_detail") else ""
        say("network: " + _word(detail))
        faults = list(getattr(board, "problems", ())) + list(getattr(board, "faults", ()))
        say("faults: " + ("; ".join(clean(f) for f in faults) if faults else "-"))
        self._ok()

    def _screen(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("screen")
        shown = getattr(self.board, "shown", None)
        if not isinstance(shown, tuple) or len(shown) != 2:
            return self._error(TEXTS["no_screen"])
        lines, style = shown
        self._say("style: " + (style or "-"))
        for text in lines:
            self._say("line: " + clean(text))
        self._ok()

    def _journal(self, now_ms, words, line):
        count = JOURNAL_DEFAULT
        if len(words) > 2:
            return self._usage("journal")
        if len(words) == 2:
            count = _number(words[1], 1, JOURNAL_MAX)
            if count is None:
                return self._usage("journal")
        last = self.loop.journal.next_seq - 1
        self._more = self._punches(max(last - count + 1, 1), last)

    def _punches(self, first, last):
        j = self.loop.journal
        t = self.loop.terminal
        for seq in range(first, last + 1):
            p = j.read(seq)
            if p is None:
                yield TEXTS["missing"] % seq
                continue
            when = iso(p.time) if p.clock_synced else "boot%d+%ds" % (p.boot_id, p.time)
            who = t.who_of_punch(p)
            flags = []
            if p.flags & 1:
                flags.append("offline")
            if p.flags & 2:
                flags.append("unknown")
            if p.method == METHOD_FINGER and len(p.credential) == 2:
                cred = "%d" % ((p.credential[0] << 8) | p.credential[1])
            else:
                cred = p.credential.hex()
            yield "seq=%d time=%s kind=%s method=%s cred=%s who=%s flags=%s sent=%s" % (
                seq,
                when,
                KIND_NAMES[p.kind] if 0 <= p.kind < len(KIND_NAMES) else "%d" % p.kind,
                METHOD_NAMES[p.method] if 0 < p.method < len(METHOD_NAMES) else "%d" % p.method,
                cred,
                "-" if who.startswith("?") else who.replace(" ", "_"),
                ",".join(flags) if flags else "-",
                "yes" if j.is_delivered(seq) else "no",
            )
        yield "ok: %d punches" % max(last - first + 1, 0)

    def _log(self, now_ms, words, line):
        log = self.loop.log
        count = LOG_DEFAULT
        if len(words) > 2:
            return self._usage("log")
        if len(words) == 2:
            if words[1].lower() == "all":
                count = 0
            else:
                count = _number(words[1], 1, LOG_MAX)
                if count is None:
                    return self._usage("log")
        after = 0 if count == 0 else max(log.next_n - 1 - count, 0)
        self._more = self._events(after, count or log.next_n)

    def _events(self, after, count):
        log = self.loop.log
        n = 0
        while n < count:
            batch = log.events(after, min(_LOG_BATCH, count - n))
            if not batch:
                break
            for e in batch:
                when = iso(e["t"]) if "t" in e else "-"
                yield "n=%d time=%s boot=%d up=%d code=%d text=%s" % (
                    e["n"], when, e["boot"], e["up"], e["code"], clean(e["text"]))  # fmt: skip
            n += len(batch)
            after = batch[-1]["n"]
        yield "ok: %d events" % n

    def _config(self, now_ms, words, line):
        if len(words) >= 2 and words[1].lower() == "get":
            if len(words) > 3:
                return self._usage("config")
            return self._config_get(words[2] if len(words) == 3 else None)
        if len(words) >= 4 and words[1].lower() == "set":
            if self._needs_login():
                return None
            value = line.split(None, 3)[3].strip()
            return self._config_set(now_ms, words[2], value)
        return self._usage("config")

    def _config_get(self, key):
        values = self.loop.config.values
        if key is not None and key not in values:
            return self._error(TEXTS["no_key"] % clean(key[:_ECHO_MAX]))
        for k in sorted(values) if key is None else (key,):
            if k == "service_pin":  # never shown
                self._say('service_pin="(set)"' if values[k] else 'service_pin=""')
            else:
                self._say("%s=%s" % (k, json.dumps(values[k], separators=(",", ":"))))
        self._ok()

    def _config_set(self, now_ms, key, text):
        cfg = self.loop.config
        spec = config.KEYS.get(key)
        if spec is None:
            return self._error(TEXTS["no_key"] % clean(key[:_ECHO_MAX]))
        value = _value(spec[0], text)
        try:
            config.check(key, value)
        except config.ConfigError as e:
            self._event(now_ms, eventlog.CONFIG_REJECTED, TEXTS["log_rejected"] % e)
            return self._error(str(e))
        if cfg.holds(cfg.version, {key: value}):
            return self._ok(TEXTS["unchanged"])
        reason = cfg.apply(cfg.version, {key: value})
        if reason is not None:  # a flash fault: nothing changed
            self._event(now_ms, eventlog.CONFIG_REJECTED, TEXTS["log_rejected"] % reason)
            return self._error(reason)
        shown = '"(set)"' if key == "service_pin" and value else json.dumps(value)
        change = "%s=%s (version %d)" % (key, shown, cfg.version)
        self._event(now_ms, eventlog.CONFIG_CHANGED, TEXTS["log_config"] % change)
        t = self.loop.terminal
        t.use_config()  # as after a service change (firmware/uplink.py)
        self.loop.perform(t.status_changed(now_ms))
        self._ok("%s=%s" % (key, shown))

    def _roster(self, now_ms, words, line):
        r = self.loop.roster
        if len(words) == 1:
            self._say("roster: version=%d count=%d" % (r.version, r.count))
            return self._ok()
        if len(words) != 2:
            return self._usage("roster")
        idm = _idm(words[1])
        if idm is None:
            return self._error(TEXTS["bad_idm"])
        e = r.lookup_card(idm)
        if e is None:
            return self._ok(TEXTS["not_in_roster"])
        self._say(
            "employee: code=%s lang=%s name=%s" % (clean(e.code), e.lang or "-", clean(e.name))
        )
        self._ok()

    def _version(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("version")
        self._say("firmware: " + VERSION)
        self._say("protocol: %d" % PROTOCOL_VERSION)
        self._say("board: " + self.loop.terminal.board)
        self._say("formats: journal=%d roster=%d config=%d eventlog=%d" % (
            journal.FORMAT_VERSION, roster.FORMAT_VERSION, config.FORMAT_VERSION,
            eventlog.FORMAT_VERSION))  # fmt: skip
        self._ok()

    def _reboot(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("reboot")
        if self._needs_login():
            return None
        self._ok(TEXTS["rebooting"])
        self._event(now_ms, eventlog.COMMAND, TEXTS["log_reboot"])
        if self.loop.reboot_asked is None:
            self.loop.reboot_asked = now_ms  # as after the service's reboot (firmware/main.py)

    def _login(self, now_ms, words, line):
        if len(words) != 2:
            return self._usage("login")
        t = self.loop.terminal
        verdict = t.check_pin(now_ms, words[1])
        if verdict == "right":
            self._login_at = now_ms
            self._expired = False
            self._event(now_ms, eventlog.SERVICE_MODE, TEXTS["log_login"])
            return self._ok(TEXTS["logged_in"])
        if self._login_at >= 0:
            self._logout(now_ms, "a wrong login")
        if verdict == "off":
            return self._error(TEXTS["pin_off"])
        if verdict == "locked":
            return self._error(TEXTS["pin_locked"] % t.pin_lock_left_s(now_ms))
        lock = t.pin_lock_left_s(now_ms)
        if lock:
            return self._error(TEXTS["pin_wrong_locked"] % lock)
        self._error(TEXTS["pin_wrong"] % t.pin_tries_left())

    def _logout_command(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("logout")
        if self._login_at < 0:
            return self._ok(TEXTS["not_logged_in"])
        self._logout(now_ms, "logout")
        self._ok(TEXTS["logged_out"])

    def _logout(self, now_ms, why):
        self._login_at = -1
        self._event(now_ms, eventlog.SERVICE_MODE, TEXTS["log_logout"] % why)

    # ----------------------------------------------------------------------- stimuli

    def _answer(self, result):
        """A stimulus's result: None is done, a text is why not."""
        if result is None:
            return self._ok()
        self._error(clean("%s" % result)[:150])

    def _card(self, now_ms, words, line):
        if not 2 <= len(words) <= 3:
            return self._usage("card")
        idm = _idm(words[1])
        if idm is None:
            return self._error(TEXTS["bad_idm"])
        hold = self._hold(words, 2)
        if hold is not None:
            self._answer(self.stimuli.card(idm, hold))

    def _hold(self, words, at):
        """HOLD_MS at ``words[at]`` (HOLD_MS when absent), or None with the error said."""
        if len(words) <= at:
            return HOLD_MS
        hold = _number(words[at], 1, _HOLD_MAX_MS)
        if hold is None:
            self._error(TEXTS["bad_number"] % ("HOLD_MS", 1, _HOLD_MAX_MS))
        return hold

    def _lift(self, now_ms, words, line):
        if len(words) != 1:
            return self._usage("lift")
        self._answer(self.stimuli.lift())

    def _finger(self, now_ms, words, line):
        if not 2 <= len(words) <= 4:
            return self._usage("finger")
        quality = words[2].lower() if len(words) > 2 else "good"
        if quality not in _QUALITIES:
            return self._error(TEXTS["bad_quality"])
        hold = self._hold(words, 3)
        if hold is not None:
            self._answer(self.stimuli.finger(words[1], quality, hold))

    def _enrol(self, now_ms, words, line):
        if len(words) != 3:
            return self._usage("enrol")
        page = _number(words[1], 0, 65535)
        if page is None:
            return self._error(TEXTS["bad_number"] % ("PAGE", 0, 65535))
        self._answer(self.stimuli.enrol(page, words[2]))

    def _key(self, now_ms, words, line):
        if len(words) != 2:
            return self._usage("key")
        self._answer(self.stimuli.key(words[1]))

    def _net(self, now_ms, words, line):
        if len(words) != 2 or words[1].lower() not in ("down", "up"):
            return self._usage("net")
        self._answer(self.stimuli.network(words[1].lower() == "up"))

    def _power(self, now_ms, words, line):
        after = 0
        if len(words) == 4 and words[2].lower() == "after" and words[3].isdigit():
            after = int(words[3])
        if words[1:2] != ["cut"] or not (len(words) == 2 or 1 <= after <= _CUT_AFTER_MAX):
            return self._usage("power")
        if after:  # armed: the power goes just before the board's Nth flash write from now
            result = self.stimuli.power_cut(after)
            if result is not None:
                return self._error(clean("%s" % result)[:150])
            return self._ok(TEXTS["power_cut_armed"] % after)
        self._ok(TEXTS["power_cut"])
        self._flush(now_ms)  # the reply goes out before the power does
        result = self.stimuli.power_cut()  # does not return on a virtual board
        if result is not None:  # it could not cut: the "ok" stands corrected
            self._error(clean("%s" % result)[:150])


def _idm(text):
    """The 8 bytes of a FeliCa IDm written as 16 hex digits, or None."""
    if len(text) != 16:
        return None
    try:
        return unhexlify(text)
    except ValueError:
        return None


def _value(kind, text):
    """A typed value: JSON (true, 90, [[5,0,1]], "text"); for a text or a choice the word as
    typed is the text too (``config set language en``)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text if kind in ("str", "choice") else None
    if kind in ("str", "choice") and not isinstance(value, str):
        return text  # service_pin 1234 is the text "1234"
    return value


_HANDLERS = {
    "help": Console._help,
    "status": Console._status,
    "screen": Console._screen,
    "journal": Console._journal,
    "log": Console._log,
    "config": Console._config,
    "roster": Console._roster,
    "version": Console._version,
    "reboot": Console._reboot,
    "login": Console._login,
    "logout": Console._logout_command,
    "card": Console._card,
    "lift": Console._lift,
    "finger": Console._finger,
    "enrol": Console._enrol,
    "key": Console._key,
    "net": Console._net,
    "power": Console._power,
}
