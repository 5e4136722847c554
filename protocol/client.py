"""The terminal's side of the upload protocol, sans-IO (MicroPython).

docs/PROTOCOL.md, PRT-CLI-*. The client never touches a socket or a clock: the caller passes
``now_ms`` (a monotonic millisecond count) to every call, sends the bytes of a :class:`Send`
over whatever link the board has, feeds back what arrives, and reports link failures. Each
finished exchange gives an :class:`Outcome`: which punches are now delivered (only after a
valid, signed acknowledgement), what to log and show, and when to try again.

The caller's ``source`` (the terminal's journal and state) provides::

    unsent(limit)      -> unsent punches, oldest first (firmware.journal.Journal.unsent)
    read(seq)          -> a stored punch or None            (Journal.read; for resend commands)
    journal_status()   -> {"next_seq", "unsent", "capacity"} (Journal.status)
    clock_state()      -> {"synced", "time", "boot", "up"}  (see messages.clock_state)
    log_events(after, limit) -> coded events with "n" > after, oldest first (optional)

Typical loop::

    action = client.next_action(now, source)
    if isinstance(action, Send): write action.data; then feed bytes with client.receive(now, b)
    until it returns an Outcome; on EOF client.closed(now); on a deadline client.timed_out(now);
    on a link error client.failed(now, NO_ROUTE, "dns").
"""

import hashlib

from micropython import const

from protocol import messages, sign
from protocol.codes import (
    CREDENTIAL_TAKEN,
    MAINTENANCE,
    MALFORMED,
    RATE_LIMITED,
    REPLAYED,
    STALE_TIME,
    TEXT,
    TOO_LARGE,
    UNKNOWN_EMPLOYEE,
    ProtocolError,
)
from protocol.commandgate import CommandGate
from protocol.http import HttpError, ResponseParser

# Error classes of MNG-04 (PRT-CLI-9), plus replies that could not be trusted.
NO_LINK = "no_link"  # not connected to any network: nothing was sent
NO_ROUTE = "no_route"  # a local network, but no route or name resolution to the service
TIMEOUT = "timeout"  # no complete answer in time (congestion, a slow or silent server)
HTTP_STATUS = "http"  # the service (or a proxy) answered an HTTP error without our code
SERVER_CODE = "res"  # the service answered with a numeric code: logged as [res=N]
BAD_REPLY = "bad_reply"  # an answer that is garbage, truncated, oversized, unsigned or forged

# Display modes (PRT-CLI-10).
MODE_UNKNOWN = "unknown"
MODE_ONLINE = "online"
MODE_OFFLINE = "offline"
MODE_MAINTENANCE = "maintenance"
MODE_REFUSED = "refused"  # the service answers but refuses this terminal (codes 1-6)

HELLO = "hello"
PUNCHES = "punches"
HEARTBEAT = "heartbeat"
ROSTER = "roster"
LOG = "log"
ENROL = "enrol"

# Every request's head (PRT-TR-1, PRT-AUTH-1); Content-Type is sent on GET too (harmless).
_HEAD = (
    "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nDakoku-Tenant: %s\r\n"
    "Dakoku-Terminal: %s\r\nDakoku-Time: %d\r\nDakoku-Nonce: %s\r\nDakoku-Signature: %s\r\n"
    "Content-Length: %d\r\n\r\n"
)

# Nonce (PRT-AUTH-5): boot counter, per-boot random salt, request counter; 24 hex digits.
_NONCE = "%08x%08x%08x"

_STALE_RETRIES = const(2)
_RESULTS_GAP_MS = const(10000)  # command results go at most this often (PRT-SAFE-3)
_POISON_STRIKES = const(2)
_ROSTER_RESTARTS = const(2)  # fetches started again in a row when the version moved
_LOG_STALLS = const(3)  # event-log answers whose high did not advance before giving up


class Settings:
    """Client tunables; the service's hello answer may lower the batch and body limits."""

    def __init__(
        self,
        batch=100,
        body=16384,
        timeout_ms=15000,
        backoff_min_ms=5000,
        backoff_cap_ms=300000,
        maintenance_jitter_ms=120000,
        max_retry_after_s=86400,
        heartbeat_s=300,
        reply_limit=65536,
        log_batch=50,
        roster_page=20,
    ):
        self.batch = batch
        self.body = body
        self.timeout_ms = timeout_ms
        self.backoff_min_ms = backoff_min_ms
        self.backoff_cap_ms = backoff_cap_ms
        self.maintenance_jitter_ms = maintenance_jitter_ms
        self.max_retry_after_s = max_retry_after_s
        self.heartbeat_s = heartbeat_s
        self.reply_limit = reply_limit
        self.log_batch = log_batch
        self.roster_page = roster_page  # employees per roster page: what the terminal's RAM holds


class Identity:
    def __init__(self, tenant, terminal, secret, firmware="0.0.0", board="", host="dakoku"):
        for value in (tenant, terminal, host):
            if not value or "\r" in value or "\n" in value or " " in value:
                raise ValueError("tenant, terminal and host: one word each, no line breaks")
        self.tenant = tenant
        self.terminal = terminal
        self.secret = sign.secret_key(secret)  # bytes, or the receiver's hex (PRT-AUTH-1)
        self.firmware = firmware
        self.board = board
        self.host = host


class Send:
    """Send ``data``; an answer must be complete by ``deadline_ms``."""

    def __init__(self, kind, data, deadline_ms, seqs=()):
        self.kind = kind
        self.data = data
        self.deadline_ms = deadline_ms
        self.seqs = seqs

    def __repr__(self):
        return "<Send %s %d bytes, %d punches>" % (self.kind, len(self.data), len(self.seqs))


class Wait:
    """Nothing to send before ``until_ms`` (None: until the caller has something new)."""

    def __init__(self, until_ms):
        self.until_ms = until_ms

    def __repr__(self):
        return "<Wait until %s>" % self.until_ms


class Outcome:
    """What one exchange (or failure to have one) means for the terminal.

    Members are class-level defaults, set on the instance only when an exchange has something
    to say: an instance then holds a handful of members instead of twenty (about 900 bytes
    less per exchange on MicroPython). Sequence defaults are empty tuples; an exchange that
    has entries assigns a list.
    """

    status = 0  # HTTP status when there was one
    code = None  # the service's numeric code ([res=N]) when there was one
    error = None  # an error class (NO_LINK, …) when not ok
    log = ""  # one line for the event log
    delivered = ()  # sequence numbers acknowledged by a valid signed answer
    results = None  # seq -> per-punch result code, for a batch answer
    set_aside = ()  # (seq, reason): poison punches taken out of the queue
    retry_at = 0  # when the client will try again (ms)
    mode = MODE_UNKNOWN
    maintenance = None  # current window {"start", "end", "notice"} (service time)
    windows = ()  # announced windows (MNT-01)
    server_time = None  # service time in seconds, from a signed answer
    commands = ()  # commands for the caller: report each with Client.report()
    config = None  # {"version", "values"} when the service sent one
    roster = None  # one roster page to apply
    min_offline_fw = None
    held = None  # highest sequence number the service holds
    resend = False  # the delivered punches were a resend (not the oldest unsent)
    # The end of a requested enrolment (PRT-ENROL-*): {"ok": True, "code", "name",
    # "roster"} or {"ok": False, "code": service code or None, "error": class}.
    enrolment = None

    def __init__(self, kind, ok):
        self.kind = kind
        self.ok = ok

    def __repr__(self):
        return "<Outcome %s ok=%s %s delivered=%d mode=%s>" % (
            self.kind,
            self.ok,
            self.log,
            len(self.delivered),
            self.mode,
        )


def _version_tuple(text):
    """(1, 2, 0) from "1.2.0-rc1": the leading digits of each dotted part (bytes, so that no
    character becomes a new qstr on MicroPython)."""
    parts = []  # type: list[int]
    for piece in text.encode().split(b"."):
        n = 0
        for b in piece:
            if not 48 <= b <= 57:
                break
            n = n * 10 + b - 48
        parts.append(n)
    return tuple(parts)


def firmware_allowed(firmware, minimum):
    """True if ``firmware`` is at least ``minimum`` (dotted numbers; MNT-08)."""
    if not minimum:
        return True
    return _version_tuple(firmware) >= _version_tuple(minimum)


class Client:
    def __init__(self, identity, settings=None, boot_id=0, entropy=b"", boot_count=None):
        self.identity = identity
        self.settings = settings or Settings()
        self.boot_id = boot_id
        self.batch_limit = self.settings.batch  # punches per request now (lower while isolating)
        self.body_limit = self.settings.body  # bytes per request body now (lower after a 413)
        self._limits = (self.settings.batch, self.settings.body)  # as agreed in the last hello
        self.heartbeat_ms = self.settings.heartbeat_s * 1000
        # The nonce's first part never repeats for this terminal (PRT-AUTH-5, PRT-SAFE-1): the
        # persisted boot counter (firmware.bootcount), or the boot ID on a board without one.
        self.boot_count = (boot_id & 0xFFFF) if boot_count is None else boot_count
        seed = "%s/%s/%d/%d/" % (identity.tenant, identity.terminal, boot_id, self.boot_count)
        self._seed = seed.encode() + bytes(entropy)
        self._draws = 0
        self._nonce_salt = self._salt()
        self._counter = 0
        self.mode = MODE_UNKNOWN
        self.time_offset = None  # service seconds minus now_ms // 1000, once known
        self.config_version = 0
        self.roster_version = 0
        self.server_roster = 0
        self.min_offline_fw = ""
        self.maintenance = None
        self.windows = []
        self._need_hello = True
        self._next_try = 0
        self._not_before = 0  # no request before this (a Retry-After, PRT-CLI-5)
        self._failures = 0
        self._stale = 0
        self._heartbeat_at = 0
        self._flight = {}  # the request in flight (empty: none)
        self._aside = []
        self._suspect = 0
        self._strikes = 0
        self._resend = []  # resend commands in progress
        self._results = []
        self._roster_cursor = None
        self._roster_fetch = 0  # version of the fetch in progress (its first page's)
        self._roster_restarts = 0  # fetches started again because the version moved
        self._roster_next = 0  # no roster request before this (a receiver's cursor stalled)
        self._roster_errors = 0
        self._roster_wait = False  # a page was handed over and roster_applied() not called yet
        self._roster_refused = -1  # a receiver roster version the caller could not hold
        self._log_after = -1  # >= 0 while an event-log upload is requested
        self._log_commands = []  # upload_log commands answered when the upload ends
        self._log_next = 0  # no event-log upload before this (the receiver's high stalled)
        self._log_stalls = 0
        self._enrol = {}  # a requested enrolment {"code", "m", "cred"} (empty: none)
        self.gate = CommandGate()  # the receiver's commands: de-duplicated, rate-limited
        self._beat_ms = -_RESULTS_GAP_MS  # when the last heartbeat was sent

    # ------------------------------------------------------------------------------ inputs

    def start(self, now_ms, clock_epoch=None, config_version=0, roster_version=0):
        """At boot: the terminal's own clock (if valid) and what it holds. Hello comes first."""
        if clock_epoch is not None:
            self.time_offset = clock_epoch - now_ms // 1000
        self.config_version = config_version
        self.roster_version = roster_version
        self._need_hello = True
        self._next_try = now_ms

    def link_up(self, now_ms):
        """The link is back (PRT-CLI-1): say hello again, soon but with a little jitter."""
        self._need_hello = True
        if not self._flight:
            soonest = now_ms + self._jitter(self.settings.backoff_min_ms)
            if self.maintenance is None and self._next_try > soonest:
                self._next_try = soonest

    def link_down(self, now_ms):
        """The link is gone: an exchange in flight fails as NO_LINK."""
        self.mode = MODE_OFFLINE
        if self._flight:
            return self.failed(now_ms, NO_LINK, "link lost")
        return None

    def report(self, command_id, status, detail=""):
        """Result of a command the caller executed; sent with the next heartbeat."""
        detail = messages.clean(detail[:200])  # it may quote the wire (an op, a key)
        self._results.append({"id": command_id, "status": status, "detail": detail})

    def roster_applied(self, version):
        """The caller is done with the last roster page and holds ``version``: roster requests
        go on (PRT-ROSTER-1)."""
        self.roster_version = version
        self._roster_wait = False

    def roster_refused(self, version):
        """The caller could not apply the roster (its flash region is too small) and still holds
        ``version``: no fetch again until the receiver announces another roster version."""
        self.roster_version = version
        self._roster_wait = False
        self._roster_cursor = None
        self._roster_refused = self.server_roster

    def enrol(self, now_ms, code, method, credential):
        """Ask the receiver to give employee ``code`` a card (method 1, the IDm) or a finger
        (method 2, the template ID as 2 bytes): sent next, after hello (PRT-ENROL-4). The
        answer comes back once as ``Outcome.enrolment``."""
        self._enrol = {"code": code, "m": method, "cred": bytes(credential)}
        if not self._flight and self.maintenance is None and self._next_try > now_ms:
            self._next_try = now_ms  # an administrator is waiting: do not sit out a back-off

    @property
    def enrolling(self):
        return bool(self._enrol)

    def cancel_enrolment(self):
        """Forget a requested enrolment not yet sent (the terminal stopped waiting for it)."""
        if not (self._flight and self._flight.get("kind") == ENROL):
            self._enrol = {}

    def config_applied(self, version):
        self.config_version = version

    def upload_now(self, now_ms):
        if not self._flight and self.maintenance is None and self._failures == 0:
            self._next_try = now_ms

    @property
    def busy(self):
        return self._flight

    @property
    def reporting(self):
        """True while command results wait to go out (with the next heartbeat, PRT-CMD-2)."""
        return bool(self._results)

    # ----------------------------------------------------------------------- scheduling

    def next_action(self, now_ms, source):
        """The request to send now, or when to ask again (one request in flight, PRT-CLI-2)."""
        if self._flight:
            return Wait(self._flight["deadline"])
        due = self._due()
        if now_ms < due:
            return Wait(due)
        if self.maintenance is not None:
            self.maintenance = None  # the announced end (plus jitter) has come: try again
            self._need_hello = True
        if self._need_hello:
            return self._hello(now_ms, source)
        if self._enrol:
            e = self._enrol
            body = messages.enrol_body(e["code"], e["m"], e["cred"])
            return self._send(now_ms, ENROL, "POST", "/v1/enrol", body)
        # PRT-CLI-3: command results go before resend ranges and punches; PRT-SAFE-3: at
        # least _RESULTS_GAP_MS after the last heartbeat (pending results do not flood).
        if self._results and now_ms >= self._beat_ms + _RESULTS_GAP_MS:
            return self._heartbeat(now_ms, source)
        if self._resend:
            send = self._resend_batch(now_ms, source)
            if send is not None:
                return send
        send = self._punch_batch(now_ms, source)
        if send is not None:
            return send
        wake = self._heartbeat_at
        # No next page until roster_applied() (the caller is still applying one).
        fetching = not self._roster_wait and (
            self._roster_cursor is not None
            or (
                self.server_roster > self.roster_version
                and self.server_roster != self._roster_refused
            )
        )
        if fetching:
            if now_ms >= self._roster_next:
                return self._roster(now_ms)
            wake = min(wake, self._roster_next)
        logging = self._log_after >= 0 and hasattr(source, "log_events")
        if logging and now_ms >= self._log_next:
            send = self._log(now_ms, source)
            if send is not None:
                return send
        if now_ms >= self._heartbeat_at:
            return self._heartbeat(now_ms, source)
        if self._results and self._beat_ms + _RESULTS_GAP_MS < wake:
            wake = self._beat_ms + _RESULTS_GAP_MS
        if logging and self._log_after >= 0:
            wake = min(wake, self._log_next)
        return Wait(wake)

    def _due(self):
        """When the next request may go: the back-off or schedule, never before a
        Retry-After (PRT-CLI-5: link_up(), enrol() and upload_now() shorten only the former)."""
        if self._next_try > self._not_before:
            return self._next_try
        return self._not_before

    def _send(self, now_ms, kind, method, target, body, seqs=(), items=0):
        self._counter += 1
        nonce = _NONCE % (self.boot_count & 0xFFFFFFFF, self._nonce_salt, self._counter)
        clock = self.service_time(now_ms)
        ident = self.identity
        message = sign.request_string(
            method, target, ident.tenant, ident.terminal, clock, nonce, body
        )
        # The head in one formatting (the identity was checked for line breaks once): a
        # list of header pairs joined line by line left about 1 KB of garbage per request.
        head = _HEAD % (
            method,
            target,
            ident.host,
            ident.tenant,
            ident.terminal,
            clock,
            nonce,
            sign.sign(ident.secret, message),
            len(body),
        )
        data = head.encode() + body
        deadline = now_ms + self.settings.timeout_ms
        self._flight = {
            "kind": kind,
            "nonce": nonce,
            "seqs": seqs,
            "size": len(body),
            "items": items or len(seqs),  # punches, results or events: what a 413 can halve
            "deadline": deadline,
            "parser": ResponseParser(method, max_body=self.settings.reply_limit),
        }
        return Send(kind, data, deadline, seqs)

    def service_time(self, now_ms):
        """Best estimate of the service's clock in seconds (0 when nothing is known)."""
        if self.time_offset is None:
            return 0
        return now_ms // 1000 + self.time_offset

    def _terminal_state(self, source):
        return (
            messages.journal_state(source.journal_status()),
            source.clock_state(),
        )

    def _hello(self, now_ms, source):
        journal, clock = self._terminal_state(source)
        body = messages.dumps(
            {
                "fw": self.identity.firmware,
                "board": self.identity.board,
                "cfg": self.config_version,
                "roster": self.roster_version,
                "journal": journal,
                "clock": clock,
            }
        )
        return self._send(now_ms, HELLO, "POST", "/v1/hello", body)

    def _heartbeat(self, now_ms, source):
        journal, clock = self._terminal_state(source)
        body = {"journal": journal, "clock": clock}
        count = len(self._results)
        if count > 50:
            count = 50
        while True:
            if count:
                body["results"] = self._results[:count]
            data = messages.dumps(body)
            if len(data) <= self.body_limit or count <= 1:
                break
            count //= 2  # within limits.body (or what a 413 taught), at least one result
        send = self._send(now_ms, HEARTBEAT, "POST", "/v1/heartbeat", data, (), count)
        self._flight["results"] = count
        self._beat_ms = now_ms
        return send

    def _admit(self, parts, size, piece, seq):
        """0: punch ``seq`` joins the batch; 1: it joins and ends it (a suspect goes alone,
        PRT-CLI-7); 2: the batch ends before it. A batch has at least one punch."""
        if seq == self._suspect:
            return 2 if parts else 1
        if not parts:
            return 0
        if len(parts) >= self.batch_limit or size + len(piece) + 1 > self.body_limit:
            return 2
        return 0

    def _punch_batch(self, now_ms, source):
        parts = []  # type: list[bytes]
        seqs = []
        size = 16
        for punch in source.unsent(self.batch_limit + len(self._aside)):
            if punch.seq in self._aside:
                continue
            piece = messages.punch_json(punch)
            admit = self._admit(parts, size, piece, punch.seq)
            if admit == 2:
                break
            parts.append(piece)
            seqs.append(punch.seq)
            size += len(piece) + 1
            if admit == 1:
                break
        if not parts:
            return None
        body = messages.join_batch(parts)
        return self._send(now_ms, PUNCHES, "POST", "/v1/punches", body, tuple(seqs))

    def _resend_batch(self, now_ms, source):
        """Re-upload a range the service asked for (a ``resend`` command, PRT-CMD-3)."""
        while self._resend:
            # [command id, next seq, last seq, missing so far, set aside so far]
            entry = self._resend[0]
            status = source.journal_status()
            last = status["next_seq"] - 1
            oldest = last - status["capacity"]  # anything older has surely been overwritten
            if entry[2] > last:
                entry[3] += entry[2] - max(last, entry[1] - 1)
                entry[2] = last
            if entry[1] <= oldest:
                entry[3] += min(oldest, entry[2]) - entry[1] + 1
                entry[1] = oldest + 1
            parts = []  # type: list[bytes]
            seqs = []
            size = 16
            missing = 0
            seq = entry[1]
            while seq <= entry[2]:
                punch = source.read(seq)
                if punch is None:
                    missing += 1  # no longer held (overwritten after delivery, or unreadable)
                else:
                    piece = messages.punch_json(punch)
                    admit = self._admit(parts, size, piece, seq)
                    if admit == 2:
                        break
                    parts.append(piece)
                    seqs.append(seq)
                    size += len(piece) + 1
                    if admit == 1:
                        seq += 1
                        break
                seq += 1
            if parts:
                body = messages.join_batch(parts)
                send = self._send(now_ms, PUNCHES, "POST", "/v1/punches", body, tuple(seqs))
                self._flight["resend"] = (seq, missing)
                return send
            entry[3] += missing
            self._resend_done()
        return None

    def _resend_done(self):
        entry = self._resend.pop(0)
        detail = []
        if entry[3]:
            detail.append("%d punches no longer held" % entry[3])
        if entry[4]:
            detail.append("%d set aside (refused twice)" % entry[4])
        if detail:
            self.report(entry[0], "failed", ", ".join(detail))
        else:
            self.report(entry[0], "ok", "")

    def _roster(self, now_ms):
        target = "/v1/roster?since=%d&limit=%d" % (self.roster_version, self.settings.roster_page)
        if self._roster_cursor is not None:
            target += "&after=" + quote(self._roster_cursor)
        return self._send(now_ms, ROSTER, "GET", target, b"")

    def _log(self, now_ms, source):
        events = list(source.log_events(self._log_after, self.settings.log_batch))
        if not events:
            self._log_done("ok", "")
            return None
        count = len(events)
        while True:
            body = messages.dumps({"events": events[:count]})
            if len(body) <= self.body_limit or count <= 1:
                break
            count //= 2  # within limits.body (or what a 413 taught), at least one event
        return self._send(now_ms, LOG, "POST", "/v1/log", body, (), count)

    def _log_done(self, status, detail):
        self._log_after = -1
        self._log_stalls = 0
        for command_id in self._log_commands:
            self.report(command_id, status, detail)
        self._log_commands = []

    def _log_reply(self, now_ms, info, out):
        """PRT-LOG-1: continue after ``high``; a ``high`` that does not advance is retried
        after a back-off (other requests, heartbeats included, go on meanwhile) and the
        upload ends as failed after three such answers."""
        high = info["high"]
        if self._log_after < 0 or high > self._log_after:
            if self._log_after >= 0:
                self._log_after = high
            self._log_stalls = 0
            out.log = "event log uploaded up to %d" % high
            return
        self._log_stalls += 1
        if self._log_stalls >= _LOG_STALLS:
            out.log = "event log upload given up: the receiver holds up to %d" % high
            self._log_done("failed", "receiver kept events only up to %d" % high)
            return
        self._log_next = now_ms + self._backoff(self._log_stalls)
        out.log = "event log: the receiver still holds up to %d; again later" % high

    # -------------------------------------------------------------------------- answers

    def receive(self, now_ms, data):
        """Bytes of the answer; an :class:`Outcome` once it is complete (else None)."""
        flight = self._flight
        if not flight:
            return None
        if now_ms > flight["deadline"]:
            return self.timed_out(now_ms)
        try:
            reply = flight["parser"].feed(data)
        except HttpError as e:
            return self._fail(now_ms, BAD_REPLY, "unreadable reply: %s" % e)
        if reply is None:
            return None
        return self._answer(now_ms, reply)

    def closed(self, now_ms):
        """The service closed the connection."""
        flight = self._flight
        if not flight:
            return None
        if now_ms > flight["deadline"]:
            return self.timed_out(now_ms)  # PRT-CLI-2: complete only now, after the deadline
        try:
            reply = flight["parser"].eof()
        except HttpError as e:
            if flight["parser"].received == 0:
                return self._fail(now_ms, NO_ROUTE, "connection closed without a reply")
            return self._fail(now_ms, BAD_REPLY, "unreadable reply: %s" % e)
        return self._answer(now_ms, reply)

    def timed_out(self, now_ms):
        if not self._flight:
            return None
        return self._fail(now_ms, TIMEOUT, "no complete reply in %d s" % self._timeout_s())

    def failed(self, now_ms, error_class, detail=""):
        """The link failed before an answer (NO_LINK, NO_ROUTE, TIMEOUT, …)."""
        if not self._flight:
            self._flight = {"kind": "", "seqs": (), "nonce": ""}
        return self._fail(now_ms, error_class, detail or error_class)

    def _timeout_s(self):
        return self.settings.timeout_ms // 1000

    def _outcome(self, ok):
        flight = self._flight
        self._flight = {}
        out = Outcome(flight["kind"], ok)
        return out, flight

    def _fail(self, now_ms, error_class, text, status=0, code=None):
        out, flight = self._outcome(False)
        out.error = error_class
        out.status = status
        out.code = code
        if error_class in (NO_LINK, NO_ROUTE, TIMEOUT, BAD_REPLY, HTTP_STATUS):
            # PRT-CLI-10: the receiver was not reached (an ``http`` answer is a proxy's).
            self.mode = MODE_OFFLINE
            self._need_hello = True  # PRT-CLI-1: hello again once the service answers
        self._failures += 1
        self._next_try = now_ms + self._backoff()
        out.retry_at = self._next_try
        out.mode = self.mode
        out.log = "%s failed: %s" % (flight["kind"] or "request", text)
        if self._enrol and (
            flight["kind"] == ENROL or error_class != SERVER_CODE or code == MAINTENANCE
        ):
            # PRT-ENROL-4: an enrolment is never kept for later; it ends with the failure.
            self._enrol = {}
            out.enrolment = {"ok": False, "code": code, "error": error_class}
        return out

    def _backoff(self, failures=0):
        """Minimum, doubling, capped, plus up to half again of random jitter (PRT-CLI-4)."""
        s = self.settings
        delay = s.backoff_min_ms
        n = 1
        while n < (failures or self._failures) and delay < s.backoff_cap_ms:
            delay *= 2
            n += 1
        if delay > s.backoff_cap_ms:
            delay = s.backoff_cap_ms
        return delay + self._jitter(delay // 2)

    def _after(self, seconds):
        """A Retry-After (always honoured, PRT-CLI-5) plus up to 10 % jitter, bounded."""
        if seconds > self.settings.max_retry_after_s:
            seconds = self.settings.max_retry_after_s
        ms = seconds * 1000
        return ms + self._jitter(ms // 10)

    def _answer(self, now_ms, reply):
        flight = self._flight
        status = reply.status
        signed = self._signed(reply, flight["nonce"])
        if status == 200:
            if not signed:
                return self._fail(now_ms, BAD_REPLY, "answer without a valid signature", status)
            try:
                return self._accept(now_ms, reply)
            except ProtocolError as e:
                return self._fail(now_ms, BAD_REPLY, "invalid answer: %s" % e, status)
        return self._refusal(now_ms, reply, signed)

    def _signed(self, reply, nonce):
        header = reply.header("dakoku-signature")
        if header is None:
            return False
        message = sign.response_string(reply.status, nonce, reply.body)
        return sign.verify(self.identity.secret, message, header)

    def _learn_time(self, now_ms, server_time, out):
        self.time_offset = server_time - now_ms // 1000
        out.server_time = server_time

    def _online(self, now_ms, out):
        self.mode = MODE_ONLINE if self.maintenance is None else MODE_MAINTENANCE
        self._failures = 0
        self._stale = 0
        out.mode = self.mode
        out.retry_at = self._next_try = now_ms

    def _accept(self, now_ms, reply):
        kind = self._flight["kind"]
        if kind == HELLO:
            info = messages.decode_hello_reply(reply.body)
        elif kind == PUNCHES:
            info = messages.decode_batch_reply(reply.body, self._flight["seqs"])
        elif kind == HEARTBEAT:
            info = messages.decode_heartbeat_reply(reply.body)
        elif kind == ROSTER:
            info = messages.decode_roster_reply(reply.body, self.settings.roster_page)
            cursor = info["next"]
            if cursor is not None and (cursor == "" or cursor == self._roster_cursor):
                # A broken fetch: it starts again, after a back-off of its own (a hello in
                # between succeeds and would reset the request back-off).
                self._roster_cursor = None
                self._roster_errors += 1
                self._roster_next = now_ms + self._backoff(self._roster_errors)
                raise ProtocolError(MALFORMED, "next: the cursor did not move", "next")
        elif kind == ENROL:
            info = messages.decode_enrol_reply(reply.body)
        else:
            info = messages.decode_log_reply(reply.body)
        out, flight = self._outcome(True)
        self._learn_time(now_ms, info["time"], out)
        out.status = 200
        self._online(now_ms, out)
        if kind == HELLO:
            self._hello_reply(now_ms, info, out)
        elif kind == PUNCHES:
            self._batch_reply(info, flight, out)
        elif kind == HEARTBEAT:
            self._heartbeat_reply(now_ms, info, flight, out)
        elif kind == ROSTER:
            self._roster_reply(info, out)
        elif kind == ENROL:
            self._enrol = {}
            out.enrolment = {"ok": True, "code": info["code"], "name": info["name"],
                             "roster": info["roster"]}  # fmt: skip
            if info["roster"] > self.server_roster:
                self.server_roster = info["roster"]
            out.log = "enrolled for %s, roster %d" % (info["code"], info["roster"])
        else:
            self._log_reply(now_ms, info, out)
        return out

    def _apply_maintenance(self, now_ms, current, windows, out):
        self.windows = windows
        out.windows = windows
        if current is not None:
            self._maintenance_until(now_ms, current, None)
            out.maintenance = current
            out.mode = self.mode
            out.retry_at = self._next_try

    def _maintenance_until(self, now_ms, window, retry_after):
        """No uploads until the window's end plus jitter (PRT-CLI-6); Retry-After if later."""
        self.maintenance = window
        self.mode = MODE_MAINTENANCE
        wait_s = 0
        if window is not None and window["end"]:
            wait_s = window["end"] - self.service_time(now_ms)
        if retry_after is not None and retry_after > wait_s:
            wait_s = retry_after
        if wait_s < 0:
            wait_s = 0
        if wait_s > self.settings.max_retry_after_s:
            wait_s = self.settings.max_retry_after_s
        self._next_try = now_ms + wait_s * 1000 + self._jitter(self.settings.maintenance_jitter_ms)

    def _hello_reply(self, now_ms, info, out):
        self._need_hello = False
        self.heartbeat_ms = info["heartbeat_s"] * 1000
        self._heartbeat_at = now_ms + self.heartbeat_ms
        limits = info["limits"]
        self._limits = (
            min(self.settings.batch, limits["batch"]),
            min(self.settings.body, limits["body"]),
        )
        self.batch_limit, self.body_limit = self._limits
        self.server_roster = info["roster"]
        self.min_offline_fw = info["min_offline_fw"]
        out.min_offline_fw = info["min_offline_fw"]
        out.held = info["high"]
        if info["config"] is not None and info["config"]["version"] != self.config_version:
            out.config = info["config"]
        self.maintenance = None
        self._apply_maintenance(now_ms, info["maintenance"], info["windows"], out)
        out.log = "hello: service time %d, roster %d" % (info["time"], info["roster"])

    def _batch_reply(self, info, flight, out):
        results = info["results"]
        out.results = results
        out.held = info["high"]
        out.delivered = list(flight["seqs"])
        for seq in flight["seqs"]:
            if seq == self._suspect:  # the suspect went through: the hello's limit again
                self._suspect = 0
                self._strikes = 0
                self.batch_limit = self._limits[0]
        progress = flight.get("resend")
        out.resend = progress is not None
        if progress is not None and self._resend:
            entry = self._resend[0]
            entry[1] = progress[0]
            entry[3] += progress[1]
            if entry[1] > entry[2]:
                self._resend_done()
        flagged = 0
        for seq in results:
            if results[seq]:
                flagged += 1
        out.log = "uploaded %d punches (%d flagged, %d already held), service holds up to %d" % (
            len(flight["seqs"]),
            flagged,
            info["dup"],
            info["high"],
        )

    def _heartbeat_reply(self, now_ms, info, flight, out):
        del self._results[: flight.get("results", 0)]
        if info["heartbeat_s"] is not None:
            self.heartbeat_ms = info["heartbeat_s"] * 1000
        self._heartbeat_at = now_ms + self.heartbeat_ms
        if info["roster"] is not None:
            self.server_roster = info["roster"]
        self._apply_maintenance(now_ms, info["maintenance"], info["windows"], out)
        for cmd in self.gate.admit(now_ms, info["commands"], self.report):
            op = cmd["op"]
            if "invalid" in cmd:
                self.report(cmd["id"], "rejected", cmd["invalid"])
            elif op == "resend":
                self._resend.append([cmd["id"], cmd["from"], cmd["to"], 0, 0])
            elif op == "upload_now":
                self.report(cmd["id"], "ok", "")
            elif op == "upload_log":
                # A second request while one runs: one upload from the lower start answers
                # both (each is reported once, PRT-CMD-2).
                if self._log_after < 0 or cmd["since"] < self._log_after:
                    self._log_after = cmd["since"]
                self._log_commands.append(cmd["id"])
            elif op in messages.COMMAND_OPS:
                commands = list(out.commands)  # a list of its own: the default is shared
                commands.append(cmd)
                out.commands = commands
            else:
                self.report(cmd["id"], "rejected", "unknown command " + op[:32])
        out.log = "heartbeat: %d commands" % len(info["commands"])

    def _roster_reply(self, info, out):
        """One page of a fetch (PRT-ROSTER-1, PRT-ROSTER-4). The cursor is opaque: only
        null ends a fetch. A fetch is of one version, its first page's: a later page of
        another version starts the fetch again (at most twice in a row; then the fetch is
        finished, the first page's version held and the changes since it fetched next)."""
        version = info["version"]
        if version > self.server_roster:
            self.server_roster = version
        if self._roster_cursor is None:
            self._roster_fetch = version
        elif version != self._roster_fetch:
            if self._roster_restarts < _ROSTER_RESTARTS:
                self._roster_restarts += 1
                out.log = "roster changed during the fetch (version %d, fetch of %d): again" % (
                    version,
                    self._roster_fetch,
                )
                self._roster_cursor = None  # this page is dropped: no half-fetched version
                return
            info["version"] = self._roster_fetch  # held: the changes since it come next
        out.roster = info
        self._roster_wait = True
        info["first"] = self._roster_cursor is None  # a fetch starts (again) with this page
        self._roster_cursor = info["next"]
        if info["next"] is None:
            # The last page: the client now considers the fetch's version held. A caller
            # that could not apply the pages calls roster_applied() with the version it
            # really holds, and the fetch starts again.
            self._roster_restarts = 0
            self._roster_errors = 0
            self.roster_version = info["version"]
        out.log = "roster page: %d changes, version %d" % (
            len(info["upsert"]) + len(info["delete"]),
            info["version"],
        )

    def _refusal(self, now_ms, reply, signed):
        """A non-200 answer: classify it (PRT-CLI-9) and decide when to try again. Its
        ``Retry-After`` holds whatever else decides the next try (PRT-CLI-5): no request
        goes before it, not after link_up() or enrol() either; the back-off holds too, so
        a Retry-After of 0 or 1 on every answer cannot make the terminal spin."""
        status = reply.status
        err = messages.decode_error(reply.body)
        retry_after = _retry_after(reply.header("retry-after"))
        wait_ms = None
        maintenance = err is not None and err["code"] == MAINTENANCE and status == 503
        if retry_after is not None and not maintenance:
            wait_ms = self._after(retry_after)  # maintenance has a jitter of its own
            self._not_before = now_ms + wait_ms
        out = self._classify(now_ms, reply, signed, err, retry_after)
        if wait_ms is not None:
            if self._next_try < self._not_before:
                self._next_try = self._not_before
            out.retry_at = self._next_try
        return out

    def _classify(self, now_ms, reply, signed, err, retry_after):
        flight = self._flight
        status = reply.status
        if err is None:
            text = "HTTP %d" % status
            if status == 413:
                return self._too_large(now_ms, flight, text, status, None)
            return self._fail(now_ms, HTTP_STATUS, text, status, None)
        code = err["code"]
        text = "[res=%d] %s" % (code, err["message"] or TEXT.get(code, "error"))
        if signed and ((code == STALE_TIME and err["time"] is not None) or code == REPLAYED):
            return self._correct(now_ms, err, text, status, code)
        if code == MAINTENANCE and status == 503:
            window = {"start": 0, "end": err["end"] or 0, "notice": err["message"]}
            out = self._fail(now_ms, SERVER_CODE, text, status, code)
            self._maintenance_until(now_ms, window, retry_after)
            out.maintenance = window
            out.mode = self.mode
            out.retry_at = self._next_try
            return out
        if code == RATE_LIMITED or status in (429, 503):
            out = self._fail(now_ms, SERVER_CODE, text, status, code)
            self.mode = out.mode = MODE_ONLINE
            return out
        if (
            flight["kind"] == ENROL
            and signed
            and code in (UNKNOWN_EMPLOYEE, CREDENTIAL_TAKEN, MALFORMED)
        ):
            # PRT-ENROL-3: a refusal of the enrolment, not of the terminal: stay online.
            self._enrol = {}
            out, flight = self._outcome(False)
            out.error, out.status, out.code = SERVER_CODE, status, code
            out.log = "enrol refused: %s" % text
            out.retry_at = self._next_try = now_ms
            out.mode = self.mode
            out.enrolment = {"ok": False, "code": code, "error": SERVER_CODE}
            return out
        if status == 413 or code == TOO_LARGE:
            return self._too_large(now_ms, flight, text, status, code)
        if (
            flight["kind"] == PUNCHES
            and code == MALFORMED
            and signed
            and err["field"].startswith("punches")
        ):
            return self._poison(now_ms, err, flight, text, status, code)
        out = self._fail(now_ms, SERVER_CODE, text, status, code)
        # PRT-CLI-10: a server error stored nothing (offline, saved); any other code refuses
        # the terminal (1-6) or the protocol at this address (12-14): refused.
        self.mode = out.mode = MODE_OFFLINE if status >= 500 else MODE_REFUSED
        return out

    def _correct(self, now_ms, err, text, status, code):
        """PRT-CLI-8: a signed 401 code 3 teaches the receiver's time (every time: a signed
        time is the receiver's), code 4 a new nonce salt; the request is retried at once at
        most twice in a row, then after a back-off, and at once again after that."""
        out, flight = self._outcome(False)
        out.error, out.status, out.code = SERVER_CODE, status, code
        if code == STALE_TIME:
            self._learn_time(now_ms, err["time"], out)
            what = "clock corrected"
        else:
            self._nonce_salt = self._salt()  # a boot ID that repeated (PRT-AUTH-5)
            what = "new nonce salt"
        self._stale += 1
        if self._stale <= _STALE_RETRIES:
            self._next_try = now_ms
            out.log = "%s refused: %s; %s" % (flight["kind"], text, what)
        else:
            self._stale = 0
            self._failures += 1
            self._next_try = now_ms + self._backoff()
            out.log = "%s refused: %s; %s, again after a back-off" % (flight["kind"], text, what)
        out.retry_at = self._next_try
        out.mode = self.mode
        return out

    def _too_large(self, now_ms, flight, text, status, code):
        """413 (PRT-CLI-7, PRT-ERR-4): signed or not, it halves the request bodies until the
        next hello (it can only make requests smaller: nothing is set aside or lost). A
        request of one item that is still too large is a failure with a back-off."""
        error = SERVER_CODE if code is not None else HTTP_STATUS
        if flight["items"] > 1:
            self.body_limit = flight["size"] // 2  # below what was sent: a batch shrinks
            out, flight = self._outcome(False)
            out.error, out.status, out.code = error, status, code
            out.log = "%s refused: %s; request bodies now up to %d bytes" % (
                flight["kind"],
                text,
                self.body_limit,
            )
            out.mode = self.mode
            out.retry_at = self._next_try = now_ms + self._jitter(1000)
            return out
        out = self._fail(now_ms, error, text, status, code)
        if code is not None:
            self.mode = out.mode = MODE_REFUSED
        return out

    def _poison(self, now_ms, err, flight, text, status, code):
        """Isolate a record the service keeps calling malformed (PRT-CLI-7): the punches
        before it go, then it goes alone; refused alone twice, it is set aside."""
        seqs = flight["seqs"]
        out, flight = self._outcome(False)
        out.error, out.status, out.code = SERVER_CODE, status, code
        out.mode = self.mode = MODE_ONLINE
        if len(seqs) > 1:
            index = _index_of(err["field"])
            if 0 <= index < len(seqs):
                self._suspect, self._strikes = seqs[index], 0
                out.log = "punches refused: %s; punch %d goes alone" % (text, seqs[index])
            else:
                cap = len(seqs) // 2
                self.batch_limit = cap
                out.log = "punches refused: %s; retrying in batches of %d" % (text, cap)
        else:
            seq = seqs[0]
            if seq == self._suspect:
                self._strikes += 1
            else:
                self._suspect, self._strikes = seq, 1
            if self._strikes >= _POISON_STRIKES:
                self._aside.append(seq)
                out.set_aside = [(seq, text)]
                self._suspect, self._strikes = 0, 0
                self.batch_limit = self._limits[0]  # the hello's limit again (PRT-PUNCH-2)
                out.log = "punch %d set aside: %s" % (seq, text)
                progress = flight.get("resend")
                if progress is not None and self._resend:
                    # A resend goes on after it (PRT-CMD-3): counted in the result.
                    entry = self._resend[0]
                    entry[1] = progress[0]
                    entry[3] += progress[1]
                    entry[4] += 1
                    if entry[1] > entry[2]:
                        self._resend_done()
            else:
                out.log = "punch %d refused: %s; trying it once more" % (seq, text)
        self._next_try = now_ms + self._jitter(1000)
        out.retry_at = self._next_try
        return out

    def forget_set_aside(self, seq):
        """The caller has recorded a set-aside punch (and marked it in the journal)."""
        if seq in self._aside:
            self._aside.remove(seq)

    # ------------------------------------------------------------------------- randomness

    def _random16(self):
        self._draws += 1
        digest = hashlib.sha256(self._seed + str(self._draws).encode()).digest()
        return (digest[0] << 8) | digest[1]

    def _salt(self):
        """32 random bits for the nonce, from the board's entropy (PRT-AUTH-5)."""
        return (self._random16() << 16) | self._random16()

    def _jitter(self, span_ms):
        """Uniform in [0, span_ms): spreads a fleet that shares a schedule (PRT-CLI-4)."""
        if span_ms <= 0:
            return 0
        return int(span_ms * (self._random16() / 65536))


def _retry_after(value):
    """Retry-After as delta-seconds, or None (an HTTP-date or garbage is not trusted)."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 9 or not value.isdigit():
        return None
    return int(value)


_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def quote(text):
    """Percent-encode ``text`` for a query string.

    Built as bytes: on MicroPython ``chr()`` interns each character as a qstr, and the first
    new qstr after import allocates a whole new qstr pool (about 9 KB) that is never freed.
    """
    raw = text.encode()
    for b in raw:
        if b not in _SAFE:
            break
    else:
        return text
    out = bytearray()
    for b in raw:
        if b in _SAFE:
            out.append(b)
        else:
            out.extend(("%%%02X" % b).encode())
    return out.decode()


def _index_of(field):
    """3 from ``punches[3].t``; -1 when there is no index."""
    start = field.find("[")
    end = field.find("]")
    if start < 0 or end <= start + 1:
        return -1
    digits = field[start + 1 : end]
    if not digits.isdigit():
        return -1
    return int(digits)
