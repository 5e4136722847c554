"""The receiver's side of the upload protocol, sans-IO (MicroPython-compatible).

docs/PROTOCOL.md, PRT-SRV-*. :meth:`Server.handle` takes the bytes of one request and the time,
and returns the bytes of the answer. It parses, authenticates, checks time and nonce, validates,
de-duplicates by (terminal, sequence number) through an injected store, and decides results,
codes and maintenance answers. It opens no socket and reads no clock; the HTTP service of the
reference receiver wraps it (and may feed :meth:`respond` a parsed :class:`Message` instead).

The store (``protocol.memstore.MemoryStore`` is the in-memory reference) provides::

    tenant(code) -> {"enabled": bool} or None
    terminal(tenant, terminal_id) -> {"secret": bytes, "enabled": bool} or None
    use_nonce(tenant, terminal_id, nonce, now, keep_s) -> False if already used in keep_s
    maintenance(now) -> (current window or None, [announced windows])
    throttle(tenant, terminal_id, now, cost) -> seconds to wait (429) or 0; cost is the
        number of punches a request carries (its decoded batch; 0 for other requests)
    known_credentials(tenant, [(method, credential)]) -> the set of those pairs that identify
        an employee of the tenant (one call per batch: a database answers it in one query)
    clock_context(tenant, terminal_id, seq) -> {"high": the latest trusted punch time held up
        to the punch just below seq (its t_high) or None, "registered": UTC seconds or 0}
    store_punches(tenant, terminal_id, rows, now) -> [(seq, code, duplicate)], atomically;
        rows are (punch, code, t_high): t_high is the latest trusted time up to this punch,
        kept for clock_context; a held (terminal, seq) keeps its original code, a different
        punch under a held seq is kept aside and answered CONFLICT
    high_seq(tenant, terminal_id) -> int
    terminal_settings(tenant, terminal_id) -> {"config": {"version", "values"} or None,
        "roster": int, "min_offline_fw": str}
    record_state(tenant, terminal_id, kind, info, now)
    commands(tenant, terminal_id, results, now) -> [command, …]: the results are recorded
        (the first result of a command ID counts), then the commands still without a result,
        oldest first, at most COMMANDS_MAX: sent again until their result arrives (PRT-CMD-2)
    roster(tenant, since, after, limit) -> {"version", "full", "upsert", "delete", "next"};
        more than ROSTER_PAGE_MAX removals since ``since``: a full roster instead (they do not
        fit a page, and a full roster says them all)
    store_log(tenant, terminal_id, events, now) -> highest event number held
    enrol(tenant, code, method, credential, now) -> {"code", "name", "roster"}: the credential
        is the employee's now (already so: no change); ProtocolError UNKNOWN_EMPLOYEE or
        CREDENTIAL_TAKEN otherwise (PRT-ENROL-*)
"""

from micropython import const

from protocol import messages, sign
from protocol.codes import (
    ACCEPTED,
    BAD_SIGNATURE,
    CLOCK_UNSYNCED,
    MAINTENANCE,
    MALFORMED,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    NOT_REGISTERED,
    RATE_LIMITED,
    REPLAYED,
    SERVER_ERROR,
    STALE_TIME,
    STATUS,
    TENANT_UNUSABLE,
    TERMINAL_UNUSABLE,
    TEXT,
    TIME_BACKWARDS,
    TIME_BEFORE_REGISTRATION,
    TIME_IN_FUTURE,
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    ProtocolError,
)
from protocol.http import HttpError, RequestParser, encode_response

_FLAG_UNKNOWN_CREDENTIAL = const(0x02)  # firmware.punch.FLAG_UNKNOWN_CREDENTIAL
COMMANDS_MAX = const(20)  # commands in one heartbeat answer (openapi.json HeartbeatReply)
WINDOWS_MAX = const(20)  # announced maintenance windows in one answer (Maintenance.windows)
ROSTER_PAGE_MAX = const(1000)  # employees, and removals, in one roster page (RosterReply)

ROUTES = {
    "/v1/hello": "POST",
    "/v1/punches": "POST",
    "/v1/heartbeat": "POST",
    "/v1/log": "POST",
    "/v1/roster": "GET",
    "/v1/enrol": "POST",
}

_REQUIRED = (
    ("dakoku-tenant", 32),
    ("dakoku-terminal", 32),
    ("dakoku-time", 10),
    ("dakoku-nonce", 64),
    ("dakoku-signature", 100),
)


class Settings:
    def __init__(
        self,
        window_s=300,
        batch=100,
        body=16384,
        heartbeat_s=300,
        future_skew_s=600,
        roster_page=200,
        log_batch=100,
        maintenance_spread_s=120,
        clock_tolerance_s=300,
    ):
        self.window_s = window_s  # accepted difference between request time and ours
        self.batch = batch  # punches per request
        self.body = body  # request body bytes
        self.heartbeat_s = heartbeat_s
        self.future_skew_s = future_skew_s  # a punch further ahead than this is flagged
        self.roster_page = roster_page
        self.log_batch = log_batch
        self.maintenance_spread_s = maintenance_spread_s
        # A punch more than this before the terminal's registration, or before a punch of a
        # lower sequence number, is flagged (TIME_BEFORE_REGISTRATION, TIME_BACKWARDS).
        self.clock_tolerance_s = clock_tolerance_s


class Answer:
    """An answer before encoding: status, body object, extra headers, signing nonce."""

    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or []
        self.secret = None
        self.nonce = ""


def _error(code, message="", field="", **extra):
    body = {"code": code, "message": message or TEXT.get(code, "error")}
    if field:
        body["field"] = field
    for key in extra:
        body[key] = extra[key]
    return Answer(STATUS[code], body)


class Server:
    def __init__(self, store, settings=None):
        self.store = store
        self.settings = settings or Settings()

    # ---------------------------------------------------------------------------- entry

    def handle(self, data, now):
        """Bytes of one complete request in, bytes of the answer out."""
        parser = RequestParser(max_body=self.settings.body)
        try:
            msg = parser.feed(data)
            if msg is None:
                msg = parser.eof()
        except HttpError as e:
            if e.status == 413:
                return self.encode(_error(TOO_LARGE, str(e)))
            return self.encode(_error(MALFORMED, "HTTP: %s" % e, "http"))
        return self.encode(self.respond(msg, now))

    def encode(self, answer):
        body = messages.dumps(answer.body)
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        headers.extend(answer.headers)
        if answer.secret is not None:
            message = sign.response_string(answer.status, answer.nonce, body)
            headers.append(("Dakoku-Signature", sign.sign(answer.secret, message)))
        return encode_response(answer.status, headers, body)

    def respond(self, msg, now):
        """An :class:`Answer` to a parsed request (errors included, never an exception)."""
        secret = None
        nonce = ""
        try:
            answer, secret, nonce = self._respond(msg, now)
        except ProtocolError as e:
            answer = _error(e.code, e.message, e.field)
        except Exception as e:  # a store failure: answer 500, never half an answer
            answer = _error(SERVER_ERROR, "server error: %s" % type(e).__name__)
            return answer
        if secret is not None and answer is not None:
            answer.secret = secret
            answer.nonce = nonce
        return answer

    # ------------------------------------------------------------------------ pipeline

    def _respond(self, msg, now):
        path = msg.target
        query = ""
        q = path.find("?")
        if q >= 0:
            path, query = path[:q], path[q + 1 :]
        method = ROUTES.get(path)
        if method is None:
            return _error(NOT_FOUND, "no such path: %s" % path[:80]), None, ""
        if msg.method != method:
            answer = _error(METHOD_NOT_ALLOWED, "use %s for %s" % (method, path))
            answer.headers.append(("Allow", method))
            return answer, None, ""
        if method == "POST":
            ctype = (msg.header("content-type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return _error(UNSUPPORTED_MEDIA, "Content-Type must be application/json"), None, ""
        values = {}
        for name, limit in _REQUIRED:
            value = msg.header(name)
            if not value:
                raise ProtocolError(MALFORMED, "header %s is required" % name, "header " + name)
            if len(value) > limit:
                raise ProtocolError(MALFORMED, "header %s too long" % name, "header " + name)
            values[name] = value
        tenant = values["dakoku-tenant"]
        terminal_id = values["dakoku-terminal"]
        nonce = values["dakoku-nonce"]
        stamp = values["dakoku-time"]
        if not stamp.isdigit():
            field = "header dakoku-time"
            raise ProtocolError(MALFORMED, field + ": whole seconds", field)
        store = self.store
        record = store.tenant(tenant)
        if record is None or not record["enabled"]:
            return _error(TENANT_UNUSABLE), None, ""
        term = store.terminal(tenant, terminal_id)
        if term is None or not term["enabled"]:
            return _error(TERMINAL_UNUSABLE), None, ""
        secret = term["secret"]
        text = sign.request_string(
            msg.method, msg.target, tenant, terminal_id, stamp, nonce, msg.body
        )
        if not sign.verify(secret, text, values["dakoku-signature"]):
            return _error(BAD_SIGNATURE), None, ""
        # From here on the request is authentic: answers are signed.
        window = self.settings.window_s
        skew = int(stamp) - now
        if skew > window or skew < -window:
            return _error(STALE_TIME, time=now), secret, nonce
        if not store.use_nonce(tenant, terminal_id, nonce, now, 2 * window):
            return _error(REPLAYED), secret, nonce
        current, windows = store.maintenance(now)
        if current is not None:
            return self._maintenance(current, terminal_id, now), secret, nonce
        punches = None
        cost = 0
        if path == "/v1/punches":
            # Paced by the punches it really carries (counting "seq" in the raw body missed
            # escaped keys such as "\u0073eq": a 100-punch batch went free).
            try:
                punches = messages.decode_batch(msg.body, self.settings.batch)
            except ProtocolError as e:
                return _error(e.code, e.message, e.field), secret, nonce
            cost = len(punches)
        wait = store.throttle(tenant, terminal_id, now, cost)
        if wait:
            answer = _error(RATE_LIMITED, retry_after=wait)
            answer.headers.append(("Retry-After", str(wait)))
            return answer, secret, nonce
        try:
            if path == "/v1/punches":
                answer = self._punches(tenant, terminal_id, punches, now)
            elif path == "/v1/hello":
                answer = self._hello(tenant, terminal_id, msg.body, now, windows)
            elif path == "/v1/heartbeat":
                answer = self._heartbeat(tenant, terminal_id, msg.body, now, windows)
            elif path == "/v1/roster":
                answer = self._roster(tenant, query, now)
            elif path == "/v1/enrol":
                answer = self._enrol(tenant, msg.body, now)
            else:
                answer = self._log(tenant, terminal_id, msg.body, now)
        except ProtocolError as e:
            answer = _error(e.code, e.message, e.field)  # signed: the request was authentic
        except Exception as e:  # a store failure: answer 500, never half an answer
            answer = _error(SERVER_ERROR, "server error: %s" % type(e).__name__)
        return answer, secret, nonce

    def _maintenance(self, window, terminal_id, now):
        """503 until the window's end, spread per terminal so a fleet does not stampede."""
        spread = self.settings.maintenance_spread_s
        offset = _spread(terminal_id, spread) if spread else 0
        wait = window["end"] - now
        if wait < 1:
            wait = 1
        wait += offset
        answer = _error(
            MAINTENANCE,
            (window.get("notice") or TEXT[MAINTENANCE])[: messages.MAX_TEXT],
            end=window["end"],
            retry_after=wait,
        )
        answer.headers.append(("Retry-After", str(wait)))
        return answer

    # ---------------------------------------------------------------------------- routes

    def _punches(self, tenant, terminal_id, punches, now):
        rows = []
        store = self.store
        future = now + self.settings.future_skew_s
        pairs = []
        for p in punches:
            pairs.append((p.method, p.credential))
        known = store.known_credentials(tenant, pairs)
        # Suspect times (stored, flagged): a punch earlier than one of a lower sequence number
        # of the same terminal (its clock was set back), or before it was registered. The
        # batch is in increasing seq order, so the latest trusted time runs along it.
        high = None
        registered = 0
        if punches:
            context = store.clock_context(tenant, terminal_id, punches[0].seq)
            high = context["high"]
            registered = context["registered"]
        tolerance = self.settings.clock_tolerance_s
        for p in punches:
            code = ACCEPTED
            early = p.clock_synced and registered and p.time < registered - tolerance
            if p.flags & _FLAG_UNKNOWN_CREDENTIAL or (p.method, p.credential) not in known:
                code = NOT_REGISTERED
            elif p.clock_synced and p.time > future:
                code = TIME_IN_FUTURE
            elif not p.clock_synced:
                code = CLOCK_UNSYNCED
            elif early:
                code = TIME_BEFORE_REGISTRATION
            elif high is not None and p.time < high - tolerance:
                code = TIME_BACKWARDS
            if p.clock_synced and p.time <= future and not early:
                if high is None or p.time > high:
                    high = p.time
            rows.append((p, code, high))
        stored = store.store_punches(tenant, terminal_id, rows, now)
        results = []
        dup = 0
        for seq, code, duplicate in stored:
            results.append({"seq": seq, "code": code})
            if duplicate:
                dup += 1
        return Answer(
            200,
            {
                "time": now,
                "results": results,
                "high": store.high_seq(tenant, terminal_id),
                "dup": dup,
            },
        )

    def _window_list(self, windows):
        """The soonest WINDOWS_MAX windows, notices cut to the schema's 200 characters (a
        terminal refuses an answer beyond either, so one window too many would cut off all)."""
        out = []
        for w in sorted(windows, key=_window_start)[:WINDOWS_MAX]:
            notice = (w.get("notice") or "")[: messages.MAX_TEXT]
            out.append({"start": w["start"], "end": w["end"], "notice": notice})
        return out

    def _hello(self, tenant, terminal_id, body, now, windows):
        info = messages.decode_hello(body)
        store = self.store
        store.record_state(tenant, terminal_id, "hello", info, now)
        current = store.terminal_settings(tenant, terminal_id)
        reply = {
            "time": now,
            "heartbeat_s": self.settings.heartbeat_s,
            "limits": {"batch": self.settings.batch, "body": self.settings.body},
            "roster": current["roster"],
            "maintenance": {"now": None, "windows": self._window_list(windows)},
            "high": store.high_seq(tenant, terminal_id),
        }
        config = current.get("config")
        if config is not None and config["version"] != info["cfg"]:
            reply["config"] = config
        if current.get("min_offline_fw"):
            reply["min_offline_fw"] = current["min_offline_fw"]
        return Answer(200, reply)

    def _heartbeat(self, tenant, terminal_id, body, now, windows):
        info = messages.decode_heartbeat(body)
        store = self.store
        store.record_state(tenant, terminal_id, "heartbeat", info, now)
        commands = store.commands(tenant, terminal_id, info["results"], now)[:COMMANDS_MAX]
        for command in commands:
            if command["op"] == "set_time":
                command["time"] = now  # the time of this answer, not of the queueing
        current = store.terminal_settings(tenant, terminal_id)
        return Answer(
            200,
            {
                "time": now,
                "heartbeat_s": self.settings.heartbeat_s,
                "roster": current["roster"],
                "maintenance": {"now": None, "windows": self._window_list(windows)},
                "commands": commands,
            },
        )

    def _roster(self, tenant, query, now):
        params = _query(query)
        since = params.get("since", "0")
        if not since.isdigit() or len(since) > 10:
            raise ProtocolError(MALFORMED, "since: a roster version number", "since")
        after = params.get("after")
        if after is not None and len(after) > 32:
            raise ProtocolError(MALFORMED, "after: longer than 32 characters", "after")
        limit = min(self.settings.roster_page, ROSTER_PAGE_MAX)
        asked = params.get("limit")
        if asked is not None:
            if not asked.isdigit() or not 1 <= int(asked) <= 1000:
                raise ProtocolError(MALFORMED, "limit: a number 1..1000", "limit")
            limit = min(limit, int(asked))
        page = self.store.roster(tenant, int(since), after, limit)
        page["time"] = now
        return Answer(200, page)

    def _enrol(self, tenant, body, now):
        info = messages.decode_enrol(body)
        done = self.store.enrol(tenant, info["code"], info["m"], info["cred"], now)
        return Answer(
            200, {"time": now, "code": done["code"], "name": done["name"], "roster": done["roster"]}
        )

    def _log(self, tenant, terminal_id, body, now):
        events = messages.decode_log(body, self.settings.log_batch)
        high = self.store.store_log(tenant, terminal_id, events, now)
        return Answer(200, {"time": now, "high": high})


def trusted_time(punch, code):
    """The time a punch stored with ``code`` vouches for (a synced clock, not flagged for its
    time), or None: what a store keeps as t_high when it is not given one."""
    if punch.clock_synced and code in (ACCEPTED, NOT_REGISTERED):
        return punch.time
    return None


def _window_start(window):
    return window["start"]


def _spread(name, span):
    """A stable per-terminal offset in [0, span) seconds (no random module on MicroPython)."""
    h = 5381
    for ch in name:
        h = ((h * 33) ^ ord(ch)) & 0xFFFFF
    return h % span


def _unquote(text):
    out = bytearray()
    i = 0
    raw = text.encode()
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and i + 2 < len(raw):
            try:
                out.append(int(raw[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(0x20 if b == 0x2B else b)
        i += 1
    try:
        return str(bytes(out), "utf-8")
    except UnicodeError:
        raise ProtocolError(MALFORMED, "query: not UTF-8", "query")


def _query(query):
    params = {}  # type: dict[str, str]
    if not query:
        return params
    for part in query.split("&")[:8]:
        eq = part.find("=")
        if eq < 0:
            params[_unquote(part)] = ""
        else:
            params[_unquote(part[:eq])] = _unquote(part[eq + 1 :])
    return params
