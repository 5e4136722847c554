"""Messages of the upload protocol: JSON encoding, decoding and validation (MicroPython).

docs/PROTOCOL.md, PRT-MSG-* and PRT-PUNCH-*; the schema is protocol/openapi.json. Decoders take
untrusted input and raise :class:`ProtocolError` naming the field (``punches[3].t``). Punches have
a hand-written compact encoder (they are most of the bytes on the wire); every other body goes
through ``json`` with compact separators. Fields a decoder does not know are ignored (PRT-VER-2).
"""

import json
from binascii import hexlify, unhexlify

from micropython import const

from firmware.punch import KIND_NAMES, MAX_CREDENTIAL, METHOD_NAMES, Punch
from protocol.codes import MALFORMED, ProtocolError

MAX_SEQ = const(0x7FFFFFFF)
MAX_TIME = 0xFFFFFFFF  # unsigned 32-bit seconds, as the journal stores them
MAX_BOOT = const(0xFFFF)
MAX_FLAGS = const(0xFF)
MAX_TEXT = const(200)


def dumps(obj):
    """Compact JSON bytes of ``obj``."""
    return json.dumps(obj, separators=(",", ":")).encode()


def loads(body, what="body"):
    """Parse a JSON object from untrusted bytes."""
    try:
        text = str(body, "utf-8")
    except UnicodeError:
        raise ProtocolError(MALFORMED, what + ": not UTF-8", what)
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError(MALFORMED, what + ": not valid JSON", what)
    if not isinstance(obj, dict):
        raise ProtocolError(MALFORMED, what + ": must be a JSON object", what)
    return obj


def _bad(path, text):
    raise ProtocolError(MALFORMED, path + ": " + text, path)


def _member(obj, key, path, required, kind, kind_text, nullable=False):
    """``obj[key]`` checked against ``kind``; None when absent and not required. An optional
    member is left out, never null (PRT-MSG-1), unless ``nullable`` (roster's ``next``)."""
    value = obj.get(key)
    if value is None:
        if required:
            _bad(path + key, "required")
        if not nullable and key in obj:
            _bad(path + key, kind_text)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        _bad(path + key, kind_text)
    return value


def get_int(obj, key, path, lo=0, hi=MAX_SEQ, required=True, default=None):
    """``obj[key]`` as an int in [lo, hi]; bools, floats and null are refused."""
    value = _member(obj, key, path, required, int, "must be an integer")
    if value is None:
        return default
    if value < lo or value > hi:
        _bad(path + key, "out of range %d..%d" % (lo, hi))
    return value


def get_str(obj, key, path, max_len=MAX_TEXT, required=True, default=None, nullable=False):
    value = _member(obj, key, path, required, str, "must be a string", nullable)
    if value is None:
        return default
    if len(value) > max_len:
        _bad(path + key, "longer than %d characters" % max_len)
    return value


def _control_at(raw, i):
    """Length in bytes of the control character at ``raw[i]`` (UTF-8), 0 if it is none: C0
    (U+0000-U+001F), DEL, C1 (U+0080-U+009F), U+2028/2029 (line and paragraph separators) and
    U+202A-U+202E, U+2066-U+2069 (bidirectional overrides, which reorder a display line)."""
    b = raw[i]
    if b < 32 or b == 127:
        return 1
    if b == 0xC2 and i + 1 < len(raw) and raw[i + 1] < 0xA0:
        return 2
    if b == 0xE2 and i + 2 < len(raw):
        c, d = raw[i + 1], raw[i + 2]
        if (c == 0x80 and 0xA8 <= d <= 0xAE) or (c == 0x81 and 0xA6 <= d <= 0xA9):
            return 3
    return 0


def clean(text):
    """``text`` with every control character replaced by "?" (PRT-SAFE-4): text from the wire
    goes into the event log and onto the display, and must not forge a log line, move the
    cursor or reorder what is shown. Text without any is returned as it is (no allocation).
    Works on the UTF-8 bytes: ``chr()`` would intern characters as qstrs on MicroPython."""
    raw = text.encode()
    i = 0
    while i < len(raw) and not _control_at(raw, i):
        i += 1
    if i == len(raw):
        return text
    out = bytearray(raw[:i])
    while i < len(raw):
        n = _control_at(raw, i)
        if n:
            out.append(63)  # "?"
            i += n
        else:
            out.append(raw[i])
            i += 1
    return out.decode()


def get_text(obj, key, path, max_len=MAX_TEXT, required=True, default=None):
    """A free text (a message, a name, a notice) for logging or display: a string, cleaned."""
    value = get_str(obj, key, path, max_len, required, default)
    return clean(value) if isinstance(value, str) else value


def get_bool(obj, key, path, required=True, default=None):
    value = _member(obj, key, path, required, bool, "must be true or false")
    return default if value is None else value


def get_list(obj, key, path, max_len=1000, required=True):
    value = _member(obj, key, path, required, list, "must be an array")
    if value is None:
        return []
    if len(value) > max_len:
        _bad(path + key, "more than %d items" % max_len)
    return value


def get_dict(obj, key, path, required=True):
    return _member(obj, key, path, required, dict, "must be an object")


def get_hex(obj, key, path, max_bytes, required=True):
    text = get_str(obj, key, path, 2 * max_bytes, required)
    if text is None:
        return None
    if len(text) % 2 or text != text.lower():
        _bad(path + key, "must be lower-case hexadecimal")
    try:
        return unhexlify(text)
    except ValueError:
        _bad(path + key, "must be lower-case hexadecimal")


# ----------------------------------------------------------------------------------- punches


# One format per shape of punch: a single formatting allocates a third of what building the
# text in pieces does on MicroPython (measured: 224 against 500 bytes a punch).
_SYNCED = b'{"seq":%d,"t":%d,"tz":%d,"k":%d,"m":%d,"cred":"%s"}'
_SYNCED_F = b'{"seq":%d,"t":%d,"tz":%d,"k":%d,"m":%d,"cred":"%s","f":%d}'
_UNSYNCED = b'{"seq":%d,"up":%d,"boot":%d,"k":%d,"m":%d,"cred":"%s"}'
_UNSYNCED_F = b'{"seq":%d,"up":%d,"boot":%d,"k":%d,"m":%d,"cred":"%s","f":%d}'


def punch_json(p):
    """The compact JSON object of one punch (PRT-PUNCH-1), as bytes."""
    if p.clock_synced:
        when = p.utc_offset_min
        shape = _SYNCED_F if p.flags else _SYNCED
    else:
        when = p.boot_id
        shape = _UNSYNCED_F if p.flags else _UNSYNCED
    cred = hexlify(p.credential)
    if p.flags:
        return shape % (p.seq, p.time, when, p.kind, p.method, cred, p.flags)
    return shape % (p.seq, p.time, when, p.kind, p.method, cred)


def encode_punch(p):
    """The compact JSON object of one punch (PRT-PUNCH-1)."""
    return punch_json(p).decode()


def encode_batch(punches):
    """Body of ``POST /v1/punches``: the punches, oldest first (PRT-PUNCH-2)."""
    return join_batch([punch_json(p) for p in punches])


def join_batch(pieces):
    """``{"punches":[…]}`` from encoded punches, built in one buffer of the exact size."""
    size = 14 + (len(pieces) - 1 if pieces else 0)  # the brackets, a comma between pieces
    for piece in pieces:
        size += len(piece)
    out = bytearray(size)
    out[0:12] = b'{"punches":['
    at = 12
    for i in range(len(pieces)):
        if i:
            out[at] = 44  # ,
            at += 1
        piece = pieces[i]
        out[at : at + len(piece)] = piece
        at += len(piece)
    out[at : at + 2] = b"]}"
    return out


def decode_punch(obj, path):
    """A :class:`Punch` from untrusted JSON, or ProtocolError naming the field."""
    if not isinstance(obj, dict):
        _bad(path[:-1], "must be an object")
    seq = get_int(obj, "seq", path, 1, MAX_SEQ)
    if "t" in obj:
        if "up" in obj:
            _bad(path + "up", "not allowed together with t")
        synced = True
        time = get_int(obj, "t", path, 0, MAX_TIME)
        tz = get_int(obj, "tz", path, -720, 840)
        if tz % 15:
            _bad(path + "tz", "must be whole quarter hours")
        boot = get_int(obj, "boot", path, 0, MAX_BOOT, False, 0)
    else:
        synced = False
        time = get_int(obj, "up", path, 0, MAX_TIME)
        boot = get_int(obj, "boot", path, 0, MAX_BOOT)
        tz = 0
    kind = get_int(obj, "k", path, 0, len(KIND_NAMES) - 1)
    method = get_int(obj, "m", path, 1, len(METHOD_NAMES) - 1)
    cred = get_hex(obj, "cred", path, MAX_CREDENTIAL)
    if not cred:
        _bad(path + "cred", "must not be empty")
    flags = get_int(obj, "f", path, 0, MAX_FLAGS, False, 0)
    return Punch(time, kind, method, cred, synced, tz, boot, flags, seq)


def decode_batch(body, max_punches):
    obj = loads(body)
    items = get_list(obj, "punches", "", max_punches)
    if not items:
        _bad("punches", "must hold at least one punch")
    punches = []
    last = 0
    for i in range(len(items)):
        p = decode_punch(items[i], "punches[%d]." % i)
        if p.seq <= last:
            _bad("punches[%d].seq" % i, "sequence numbers must increase (oldest first)")
        last = p.seq
        punches.append(p)
    return punches


# ------------------------------------------------------------------------- terminal state


def clock_state(synced, time, boot, up):
    """The ``clock`` object of hello and heartbeat (PRT-HELLO-2)."""
    state = {"synced": bool(synced), "boot": boot, "up": up}
    if synced:
        state["time"] = time
    return state


def journal_state(status):
    """The ``journal`` object from :meth:`Journal.status` (PRT-HELLO-3)."""
    return {"next": status["next_seq"], "unsent": status["unsent"], "cap": status["capacity"]}


def decode_clock(obj, path):
    synced = get_bool(obj, "synced", path)
    return {
        "synced": synced,
        "time": get_int(obj, "time", path, 0, MAX_TIME, synced, None),
        "boot": get_int(obj, "boot", path, 0, MAX_BOOT),
        "up": get_int(obj, "up", path, 0, MAX_TIME),
    }


def decode_journal(obj, path):
    return {
        "next": get_int(obj, "next", path, 1, MAX_SEQ),
        "unsent": get_int(obj, "unsent", path, 0, MAX_SEQ),
        "cap": get_int(obj, "cap", path, 0, MAX_SEQ),
    }


def decode_hello(body):
    obj = loads(body)
    return {
        "fw": get_str(obj, "fw", "", 32),
        "board": get_str(obj, "board", "", 32),
        "cfg": get_int(obj, "cfg", "", 0, MAX_SEQ),
        "roster": get_int(obj, "roster", "", 0, MAX_SEQ),
        "journal": decode_journal(get_dict(obj, "journal", ""), "journal."),
        "clock": decode_clock(get_dict(obj, "clock", ""), "clock."),
    }


RESULT_STATUSES = ("ok", "rejected", "failed")


def decode_heartbeat(body):
    obj = loads(body)
    results = []
    items = get_list(obj, "results", "", 50, False)
    for i in range(len(items)):
        path = "results[%d]." % i
        item = items[i]
        if not isinstance(item, dict):
            _bad(path[:-1], "must be an object")
        status = get_str(item, "status", path, 16)
        if status not in RESULT_STATUSES:
            _bad(path + "status", "must be one of ok, rejected, failed")
        results.append(
            {
                "id": get_str(item, "id", path, 64),
                "status": status,
                "detail": get_text(item, "detail", path, MAX_TEXT, False, ""),
            }
        )
    return {
        "journal": decode_journal(get_dict(obj, "journal", ""), "journal."),
        "clock": decode_clock(get_dict(obj, "clock", ""), "clock."),
        "results": results,
    }


def decode_log(body, max_events):
    obj = loads(body)
    items = get_list(obj, "events", "", max_events)
    events = []
    for i in range(len(items)):
        path = "events[%d]." % i
        item = items[i]
        if not isinstance(item, dict):
            _bad(path[:-1], "must be an object")
        events.append(
            {
                "n": get_int(item, "n", path, 1, MAX_SEQ),
                "code": get_int(item, "code", path, 0, 0xFFFF),
                "t": get_int(item, "t", path, 0, MAX_TIME, False, None),
                "up": get_int(item, "up", path, 0, MAX_TIME, False, 0),
                "boot": get_int(item, "boot", path, 0, MAX_BOOT, False, 0),
                "text": get_text(item, "text", path, MAX_TEXT, False, ""),
            }
        )
    return events


# ------------------------------------------------------------------ replies (client side)


def decode_window(obj, path):
    if not isinstance(obj, dict):
        _bad(path[:-1], "must be an object")
    start = get_int(obj, "start", path, 0, MAX_TIME)
    end = get_int(obj, "end", path, 0, MAX_TIME)
    if end < start:
        _bad(path + "end", "before start")
    notice = get_text(obj, "notice", path, MAX_TEXT, False, "")  # shown (PRT-SAFE-4)
    return {"start": start, "end": end, "notice": notice}


def _usable_window(obj, path):
    """A window, or None when it ends before it starts (PRT-MNT-1: such a window is
    ignored, the rest of the answer stands)."""
    try:
        return decode_window(obj, path)
    except ProtocolError as e:
        if e.field == path + "end" and e.message.endswith("before start"):
            return None
        raise


def decode_maintenance(obj, path):
    """``{"now": window|null, "windows": [window, …]}`` (PRT-MNT-1)."""
    if obj is None:
        return None, []
    now = obj.get("now")
    current = _usable_window(now, path + "now.") if now is not None else None
    windows = []
    items = get_list(obj, "windows", path, 20, False)
    for i in range(len(items)):
        window = _usable_window(items[i], "%swindows[%d]." % (path, i))
        if window is not None:
            windows.append(window)
    return current, windows


def decode_limits(obj):
    if obj is None:
        return None
    return {
        "batch": get_int(obj, "batch", "limits.", 1, 1000),
        "body": get_int(obj, "body", "limits.", 1024, 1 << 20),
    }


def decode_config(obj):
    if obj is None:
        return None
    values = get_dict(obj, "values", "config.")
    return {"version": get_int(obj, "version", "config.", 0, MAX_SEQ), "values": values}


def decode_hello_reply(body):
    obj = loads(body, "reply")
    now, windows = decode_maintenance(get_dict(obj, "maintenance", "", False), "maintenance.")
    return {
        "time": get_int(obj, "time", "", 0, MAX_TIME),
        "heartbeat_s": get_int(obj, "heartbeat_s", "", 10, 86400),
        "limits": decode_limits(get_dict(obj, "limits", "")),
        "config": decode_config(get_dict(obj, "config", "", False)),
        "roster": get_int(obj, "roster", "", 0, MAX_SEQ),
        "maintenance": now,
        "windows": windows,
        "min_offline_fw": get_str(obj, "min_offline_fw", "", 32, False, ""),
        "high": get_int(obj, "high", "", 0, MAX_SEQ, False, 0),
    }


def decode_batch_reply(body, sent_seqs):
    """Per-punch results of a batch; every sent punch must have exactly one (PRT-PUNCH-4)."""
    obj = loads(body, "reply")
    items = get_list(obj, "results", "", len(sent_seqs))
    results = {}
    for i in range(len(items)):
        path = "results[%d]." % i
        item = items[i]
        if not isinstance(item, dict):
            _bad(path[:-1], "must be an object")
        seq = get_int(item, "seq", path, 1, MAX_SEQ)
        if seq not in sent_seqs or seq in results:
            _bad(path + "seq", "not a punch of this request, or repeated")
        results[seq] = get_int(item, "code", path, 0, 0xFFFF)
    if len(results) != len(sent_seqs):
        _bad("results", "a result is missing for some punches")
    return {
        "time": get_int(obj, "time", "", 0, MAX_TIME),
        "results": results,
        "high": get_int(obj, "high", "", 0, MAX_SEQ),
        "dup": get_int(obj, "dup", "", 0, MAX_SEQ, False, 0),
    }


COMMAND_OPS = (
    "set_config",
    "set_time",
    "resend",
    "upload_log",
    "update_firmware",
    "reboot",
    "upload_now",
)


def decode_command(obj, path):
    if not isinstance(obj, dict):
        _bad(path[:-1], "must be an object")
    op = get_str(obj, "op", path, 32)
    cmd = {"id": get_str(obj, "id", path, 64), "op": op}
    if op == "resend":
        cmd["from"] = get_int(obj, "from", path, 1, MAX_SEQ)
        cmd["to"] = get_int(obj, "to", path, cmd["from"], MAX_SEQ)
    elif op == "set_config":
        cmd["config"] = decode_config(get_dict(obj, "config", path))
    elif op == "set_time":
        cmd["time"] = get_int(obj, "time", path, 0, MAX_TIME)
    elif op == "upload_log":
        cmd["since"] = get_int(obj, "since", path, 0, MAX_SEQ, False, 0)
    elif op == "update_firmware":
        cmd["url"] = get_str(obj, "url", path, 512)
        cmd["version"] = get_str(obj, "version", path, 32)
        cmd["sha256"] = get_hex(obj, "sha256", path, 32)
        cmd["signature"] = get_str(obj, "signature", path, 512)
    # reboot, upload_now: no arguments. An unknown op is passed on and answered "rejected".
    return cmd


def _usable_command(obj, path):
    """A command; one whose ``id`` and ``op`` are sound but another member is not (a
    ``resend`` with ``to`` before ``from``, …) comes back as ``{"id", "op", "invalid":
    reason}`` and is answered ``rejected`` (PRT-CMD-1): the other commands stand."""
    if not isinstance(obj, dict):
        _bad(path[:-1], "must be an object")
    get_str(obj, "op", path, 32)
    get_str(obj, "id", path, 64)
    try:
        return decode_command(obj, path)
    except ProtocolError as e:
        return {"id": obj["id"], "op": obj["op"], "invalid": e.message}


def decode_heartbeat_reply(body):
    obj = loads(body, "reply")
    now, windows = decode_maintenance(get_dict(obj, "maintenance", "", False), "maintenance.")
    commands = []
    items = get_list(obj, "commands", "", 20, False)
    for i in range(len(items)):
        commands.append(_usable_command(items[i], "commands[%d]." % i))
    return {
        "time": get_int(obj, "time", "", 0, MAX_TIME),
        "heartbeat_s": get_int(obj, "heartbeat_s", "", 10, 86400, False, None),
        "roster": get_int(obj, "roster", "", 0, MAX_SEQ, False, None),
        "maintenance": now,
        "windows": windows,
        "commands": commands,
    }


def _hex_bytes(value, max_bytes):
    """Bytes of a lower-case hex string of 1..max_bytes bytes, or None."""
    if not isinstance(value, str) or not value or len(value) > 2 * max_bytes or len(value) % 2:
        return None
    if value != value.lower():
        return None
    try:
        return unhexlify(value)
    except ValueError:
        return None


def decode_employee(obj, path):
    """Validate one roster employee in place (the page is large: no copies, no garbage paths)."""
    if not isinstance(obj, dict):
        _bad(path[:-1], "must be an object")
    cards = get_list(obj, "cards", path, 8, False)
    for i in range(len(cards)):
        card = _hex_bytes(cards[i], MAX_CREDENTIAL)
        if card is None:
            _bad("%scards[%d]" % (path, i), "must be 1-12 bytes of lower-case hexadecimal")
        cards[i] = card
    fingers = get_list(obj, "fingers", path, 10, False)
    for i in range(len(fingers)):
        f = fingers[i]
        if not isinstance(f, int) or isinstance(f, bool) or not 0 <= f <= 0xFFFF:
            _bad("%sfingers[%d]" % (path, i), "must be an integer 0..65535")
    lines = get_list(obj, "lines", path, 4, False)
    for i in range(len(lines)):
        if not isinstance(lines[i], str) or len(lines[i]) > 64:
            _bad("%slines[%d]" % (path, i), "must be text of at most 64 characters")
        lines[i] = clean(lines[i])  # shown on the display (PRT-SAFE-4)
    obj["code"] = get_text(obj, "code", path, 32)
    obj["name"] = get_text(obj, "name", path, 64)
    obj["lang"] = get_str(obj, "lang", path, 8, False, "")
    obj["cards"] = cards
    obj["fingers"] = fingers
    obj["lines"] = lines
    return obj


def decode_roster_reply(body, max_employees=1000):
    """A roster page; more than ``max_employees`` (the ``limit`` the terminal asked for) is
    refused before any employee is looked at (PRT-SAFE-5)."""
    obj = loads(body, "reply")
    upsert = get_list(obj, "upsert", "", max_employees, False)
    for i in range(len(upsert)):
        decode_employee(upsert[i], "upsert[%d]." % i)
    delete = get_list(obj, "delete", "", 1000, False)
    for i in range(len(delete)):
        if not isinstance(delete[i], str) or len(delete[i]) > 32:
            _bad("delete[%d]" % i, "must be an employee code of at most 32 characters")
        delete[i] = clean(delete[i])  # as the upserted codes are
    return {
        "time": get_int(obj, "time", "", 0, MAX_TIME),
        "version": get_int(obj, "version", "", 0, MAX_SEQ),
        "full": get_bool(obj, "full", "", False, False),
        "upsert": upsert,
        "delete": delete,
        "next": get_str(obj, "next", "", 32, False, None, True),  # null ends a fetch
    }


def decode_log_reply(body):
    obj = loads(body, "reply")
    return {"time": get_int(obj, "time", "", 0, MAX_TIME), "high": get_int(obj, "high", "")}


# -------------------------------------------------------------------------------- enrolment


def enrol_body(code, method, credential):
    return dumps({"code": code, "m": method, "cred": hexlify(credential).decode()})


def decode_enrol(body):
    obj = loads(body)
    code = get_str(obj, "code", "", 32)
    if not code:
        _bad("code", "must not be empty")
    method = get_int(obj, "m", "", 1, 2)
    cred = get_hex(obj, "cred", "", MAX_CREDENTIAL)
    if method == 1 and len(cred) != 8:
        _bad("cred", "a FeliCa IDm is 8 bytes")
    if method == 2 and len(cred) != 2:
        _bad("cred", "a finger template ID is 2 bytes")
    return {"code": code, "m": method, "cred": cred}


def decode_enrol_reply(body):
    obj = loads(body, "reply")
    return {
        "time": get_int(obj, "time", "", 0, MAX_TIME),
        "code": get_text(obj, "code", "", 32),
        "name": get_text(obj, "name", "", 64),
        "roster": get_int(obj, "roster", "", 0, MAX_SEQ),
    }


def decode_error(body):
    """The error body of a non-2xx answer, or None when it is not one of ours."""
    try:
        obj = loads(body, "error")
        return {
            "code": get_int(obj, "code", "", 0, 0xFFFF),
            "message": get_text(obj, "message", "", MAX_TEXT, False, ""),
            "field": get_text(obj, "field", "", 100, False, ""),
            "retry_after": get_int(obj, "retry_after", "", 0, MAX_TIME, False, None),
            "end": get_int(obj, "end", "", 0, MAX_TIME, False, None),
            "time": get_int(obj, "time", "", 0, MAX_TIME, False, None),
        }
    except ProtocolError:
        return None
