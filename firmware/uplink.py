"""The uplink: the protocol client run against the journal, clock, roster, config and event log.

Sans-IO like the rest: the loop asks :meth:`Uplink.next_action` for a ``protocol.client.Send``
or ``Wait``, writes the bytes over the board's link, and feeds back what happens
(:meth:`receive`, :meth:`closed`, :meth:`timed_out`, :meth:`failed`, :meth:`link`). Each finished
exchange is applied here: acknowledged punches marked delivered in the journal, poison punches
written to the event log and then marked (PRT-CLI-7, PRT-CLI-11), the clock set from signed
answers, maintenance and network errors logged (MNG-04 with ``[res=N]``), configuration,
roster pages and commands applied, and the terminal told to redraw.
"""

from firmware import eventlog
from firmware.punch import Punch
from firmware.terminal import Reboot
from protocol import messages
from protocol.client import MODE_MAINTENANCE, Client, Identity, Settings

# Punches per upload on the terminal, chosen for RAM (docs/ARCHITECTURE.md, the heap figures):
# a 5-punch exchange allocates about 6.5 KB building the request and 6 KB reading the answer on
# MicroPython (measured 2026-11-22; 25 punches: 24 KB and 8 KB). The price is on the wire:
# about 450 bytes of request head per batch, so a backlog costs about twice the bytes of
# 100-punch batches. A punch taken online goes out alone anyway.
UPLOAD_BATCH = 5
# Employees per roster page: a page's JSON objects are the largest allocation of the terminal.
ROSTER_PAGE = 5
# Roster records applied per background turn (Uplink.background): a few milliseconds of flash.
ROSTER_WORK = 8
# A failure streak ends when the request that failed succeeds; a success of another kind ends
# it too once no failure came for this long (a request that is never made again, say).
_STREAK_QUIET_MS = 900000
# Kinds of failure logged in one streak (error class, code, status); further kinds are counted.
_STREAK_KINDS = 4
# Terminal states in which background work runs: never while a tap is being answered.
_IDLE = ("ready", "clock_invalid", "journal_full", "reader_fault")


class _Source:
    """What the client reads: the journal, the clock and the event log."""

    def __init__(self, uplink):
        self.u = uplink
        self._punch = Punch(0)  # refilled for each punch of an upload (the client uses it at once)

    def unsent(self, limit=-1):
        return self.u.journal.unsent(limit, self._punch)

    def read(self, seq):
        return self.u.journal.read(seq)

    def journal_status(self):
        return self.u.journal.status()

    def clock_state(self):
        u = self.u
        t = u.clock.now(u.now_ms)
        return messages.clock_state(t is not None, t, u.terminal.boot_id, u.now_ms // 1000)

    def log_events(self, after, limit):
        return self.u.log.events(after, limit)


class Uplink:
    def __init__(
        self, terminal, tenant, terminal_id, secret, settings=None, entropy=b"", boot_count=None
    ):
        self.terminal = terminal
        self.journal = terminal.journal
        self.clock = terminal.clock
        self.log = terminal.log
        self.config = terminal.config
        self.roster = terminal.roster
        identity = Identity(tenant, terminal_id, secret, terminal.firmware, terminal.board)
        self.client = Client(
            identity,
            settings or Settings(batch=UPLOAD_BATCH, roster_page=ROSTER_PAGE),
            terminal.boot_id,
            entropy,
            boot_count,  # firmware.bootcount: no nonce repeats across boots (PRT-SAFE-1)
        )
        self.source = _Source(self)
        self.now_ms = 0
        # The failure streak: [request kind, failures, failure kinds logged, last failure ms],
        # or None while requests succeed. Logged once per kind, counted, ended with its count.
        self._streak = None
        self._refusing = False  # the client's gate is refusing commands (logged once)
        self.delivered = 0
        self.last_delivery_ms = None  # when the receiver last acknowledged punches
        self.actions = []  # SetRtc, Reboot and redraws for the board

    def start(self, now_ms):
        self.now_ms = now_ms
        self.client.start(now_ms, self.clock.now(now_ms), self.config.version, self.roster.version)

    def next_action(self, now_ms):
        self.now_ms = now_ms
        request = self.terminal.enrol_request
        if request is not None:  # service mode asked for an enrolment (PRT-ENROL-1)
            self.terminal.enrol_request = None
            self.client.enrol(now_ms, request[0], request[1], request[2])
        elif self.client.enrolling and self.terminal.machine.state != "enrolling":
            self.client.cancel_enrolment()  # the terminal gave up waiting: never send it late
        return self.client.next_action(now_ms, self.source)

    def receive(self, now_ms, data):
        self.now_ms = now_ms
        out = self.client.receive(now_ms, data)
        return self._apply(now_ms, out)

    def closed(self, now_ms):
        self.now_ms = now_ms
        return self._apply(now_ms, self.client.closed(now_ms))

    def timed_out(self, now_ms):
        self.now_ms = now_ms
        return self._apply(now_ms, self.client.timed_out(now_ms))

    def failed(self, now_ms, error_class, detail=""):
        self.now_ms = now_ms
        return self._apply(now_ms, self.client.failed(now_ms, error_class, detail))

    def link(self, now_ms, up):
        self.now_ms = now_ms
        if up:
            self.client.link_up(now_ms)
            return []
        return self._apply(now_ms, self.client.link_down(now_ms))

    def background(self, now_ms, budget=ROSTER_WORK):
        """Background work outside the tap path: apply the roster page in hand, ``budget``
        records at a time. True if there was work (call again), False when idle."""
        roster = self.roster
        if not roster.busy or self.terminal.machine.state not in _IDLE:
            return False
        try:
            if not roster.work(budget):
                return True
        except Exception as e:  # a full region or a flash error: the old roster stays in force
            self._roster_failed(now_ms, e)
            return True
        self.client.roster_applied(roster.version)
        return True

    def _roster_failed(self, now_ms, e):
        """Logged once; the same roster version is not fetched again (it would fail again)."""
        self._event(now_ms, eventlog.COMMAND, ("roster not applied: %s" % e)[:106])
        self.client.roster_refused(self.roster.version)

    def punch_stored(self, now_ms):
        """A tap was stored: upload it now if nothing is waiting on a back-off."""
        self.client.upload_now(now_ms)

    # ----------------------------------------------------------------------- outcomes

    def _event(self, now_ms, code, text):
        """Every event the uplink logs quotes the wire somewhere (a message, an ID, a key):
        cleaned of control characters here, once (PRT-SAFE-4)."""
        text = messages.clean(text)
        self.log.append(code, text, self.clock.now(now_ms), now_ms // 1000, self.terminal.boot_id)

    def _apply(self, now_ms, out):
        if out is None:
            return []
        t = self.terminal
        if out.delivered:
            if out.resend:
                for seq in out.delivered:
                    self.journal.mark_delivered(seq)
            else:
                self.journal.mark_delivered_up_to(max(out.delivered))
            self.delivered += len(out.delivered)
            self.last_delivery_ms = now_ms
        for seq, reason in out.set_aside:
            self._log_set_aside(now_ms, seq, reason)
            self.journal.mark_delivered(seq)
            self.client.forget_set_aside(seq)
        if out.server_time is not None:
            self._set_clock(now_ms, out.server_time, "service")
        self._mode(now_ms, out)
        if out.min_offline_fw is not None:
            t.min_offline_fw = out.min_offline_fw
        if out.config is not None:
            self._config(now_ms, out.config)
        if out.roster is not None:
            self._roster(now_ms, out.roster)
        for cmd in out.commands:
            self._command(now_ms, cmd)
        self._refusals(now_ms, out)
        if out.enrolment is not None:
            self.actions.extend(t.enrol_result(now_ms, out.enrolment))
        actions = self.actions
        self.actions = []
        return actions + t.status_changed(now_ms)

    def _log_set_aside(self, now_ms, seq, reason):
        """A poison punch lives on in the event log only (PRT-CLI-7, PRT-CLI-11): the reason
        in one record, then the punch's JSON whole, over as many records as it needs (a piece
        that does not end with "}" goes on in the next record)."""
        text = "seq %d set aside: %s" % (seq, reason)
        self._event(now_ms, eventlog.PUNCH_SET_ASIDE, text[: eventlog.TEXT_MAX])
        punch = self.journal.read(seq)
        body = messages.encode_punch(punch) if punch is not None else "seq %d unreadable" % seq
        for start in range(0, len(body), eventlog.TEXT_MAX):  # ASCII: bytes are characters
            self._event(now_ms, eventlog.PUNCH_SET_ASIDE, body[start : start + eventlog.TEXT_MAX])

    def _set_clock(self, now_ms, epoch, source):
        t = self.terminal
        done = t.set_clock(now_ms, epoch, source)
        self.actions.extend(t._take())
        return done

    def _mode(self, now_ms, out):
        t = self.terminal
        old = t.mode
        new = out.mode if out.mode != "unknown" else old
        if out.maintenance is not None:
            t.maintenance_end = out.maintenance["end"] or None
        if new != old:
            if new == MODE_MAINTENANCE:
                self._event(now_ms, eventlog.MAINTENANCE_START, out.log[:106])
            elif old == MODE_MAINTENANCE:
                self._event(now_ms, eventlog.MAINTENANCE_END, "")
                t.maintenance_end = None
            t.mode = new
        if not out.ok and out.error is not None:
            self._failure(now_ms, out)
        elif out.ok:
            self._success(now_ms, out)

    def _failure(self, now_ms, out):
        """Each kind of failure is logged once per streak; repeats are counted."""
        streak = self._streak
        if streak is None:
            streak = self._streak = [out.kind, 0, [], now_ms]
        streak[1] += 1
        streak[3] = now_ms
        key = (out.error, out.code, out.status)
        if key not in streak[2] and len(streak[2]) < _STREAK_KINDS:
            streak[2].append(key)
            self._event(now_ms, eventlog.NET_ERROR, out.log[:106])

    @property
    def failure_streak(self):
        """Failed exchanges in the streak under way (0: requests succeed)."""
        return self._streak[1] if self._streak is not None else 0

    @property
    def last_failure(self):
        """(request kind, error class, service code, HTTP status) of the newest kind of failure
        in the streak under way, or None (status displays; the event log has its text). Kept
        in the streak, not copied: nothing more stays alive on the heap for it."""
        streak = self._streak
        if streak is None or not streak[2]:
            return None
        error, code, status = streak[2][-1]
        return streak[0], error, code, status

    def _success(self, now_ms, out):
        """The streak ends when the request that failed succeeds (a good hello between two
        failed uploads does not end it), logged once with the number of failures."""
        streak = self._streak
        if streak is None:
            return
        if streak[0] in ("", out.kind) or now_ms - streak[3] >= _STREAK_QUIET_MS:
            self._streak = None
            self._event(
                now_ms, eventlog.NET_RESTORED, "%s ok after %d failures" % (out.kind, streak[1])
            )

    def _config(self, now_ms, config):
        if self.config.holds(config["version"], config["values"]):
            self.client.config_applied(config["version"])
            return None  # already held: not written, not logged (PRT-SAFE-3)
        reason = self.config.apply(config["version"], config["values"])
        if reason is None:
            self._event(now_ms, eventlog.CONFIG_CHANGED, "version %d" % config["version"])
            self.terminal.use_config()
        else:
            self._event(now_ms, eventlog.CONFIG_REJECTED, reason[:106])
        self.client.config_applied(config["version"])
        return reason

    def _roster(self, now_ms, page):
        """Start applying a page; :meth:`background` does the work and tells the client."""
        try:
            self.roster.start_page(page)
        except Exception as e:  # a flash error: keep the old roster
            self._roster_failed(now_ms, e)

    def _refusals(self, now_ms, out):
        """Commands the client's gate refused (duplicates, over the rate): one event when a
        burst starts, not one per command (PRT-SAFE-3); the streak ends with a quiet answer."""
        if out.kind != "heartbeat" or not out.ok:
            return
        refused = self.client.gate.take_refused()
        if refused and not self._refusing:
            self._event(now_ms, eventlog.COMMAND, "%d commands refused: duplicates or over "
                        "the rate; further refusals not logged" % refused)  # fmt: skip
        self._refusing = refused > 0

    def _command(self, now_ms, cmd):
        op = cmd["op"]
        if op == "set_config":
            if self.config.holds(cmd["config"]["version"], cmd["config"]["values"]):
                self.client.report(cmd["id"], "ok", "unchanged")
                return  # nothing done, nothing logged (PRT-SAFE-3)
            reason = self._config(now_ms, cmd["config"])
            self.client.report(cmd["id"], "ok" if reason is None else "rejected", reason or "")
        elif op == "set_time":
            if self._set_clock(now_ms, cmd["time"], "command"):
                self.client.report(cmd["id"], "ok", "")
            else:
                self.client.report(cmd["id"], "rejected", "time out of range")
        elif op == "reboot":
            self.client.report(cmd["id"], "ok", "")
            self.actions.append(Reboot())
        else:  # update_firmware: not in this build
            self.client.report(cmd["id"], "rejected", "%s not supported by this firmware" % op)
        self._event(now_ms, eventlog.COMMAND, "%s %s" % (op, cmd["id"]))
