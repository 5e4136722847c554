"""CSV in and out of the receiver: employees in, punches out (FCS-05).

Employees (``dakoku cloud employee import``): a header line, then one employee per line::

    code,name,cards,fingers,lang,lines
    E0001,山田 太郎,012e4cd2a3b4c5d6 012e4cd2a3b4c5d7,17,ja,残業残り 12 h|…

``cards``: FeliCa IDms (16 hex digits) separated by spaces or ``;``; ``fingers``: template IDs
likewise; ``lang``: ``ja``, ``en`` or empty; ``lines``: display lines separated by ``|`` (CLK-04).
Only ``code`` and ``name`` are required. UTF-8 (with or without BOM) or Shift_JIS (cp932, what
spreadsheet programs write in Japan). The import is all or nothing: any bad line, a code given
twice or already registered (LNK-01), or a card given twice, and nothing is stored; the error
names the line as an editor shows it and the record number (``line 5 (record 3)``: a quoted
cell may span lines).

Punches (``dakoku cloud export``): one line per punch held, by terminal and sequence number::

    terminal,seq,employee,name,work_date,local_time,placed,kind,kind_derived,method,
    credential,offline,code,result,received_utc

``local_time`` is ISO 8601 with the UTC offset; ``placed`` says where the time comes from:
``clock`` (the terminal's valid clock), ``boot`` (taken with an invalid clock, placed through a
later synced hello or heartbeat of the same boot, PRT-HELLO-2) or ``unplaced`` (no such sync yet:
``local_time`` is empty). ``work_date`` is the working day, which starts at the tenant's
day-start hour (CLK-03, 5 by default, the terminal's own default). ``kind_derived`` fills in
punches taken without a kind: the first of the employee's working day is clock-in, the last is
clock-out (LNK-03). Every text cell is escaped and neutralised against formula injection
(:func:`simulator.cloud.textsafe.csv_cell`): a cell that would start with ``=``, ``+``, ``-``,
``@``, a tab or CR starts with a single quote.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from firmware.punch import KIND_NAMES, METHOD_NAMES
from protocol.codes import TEXT
from simulator.cloud.store import RegistryError, SqlStore
from simulator.cloud.textsafe import csv_cell

EMPLOYEE_COLUMNS = ("code", "name", "cards", "fingers", "lang", "lines")
PUNCH_COLUMNS = (
    "terminal",
    "seq",
    "employee",
    "name",
    "work_date",
    "local_time",
    "placed",
    "kind",
    "kind_derived",
    "method",
    "credential",
    "offline",
    "code",
    "result",
    "received_utc",
)
MAX_IMPORT_BYTES = 16 * 1024 * 1024


def decode_text(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise RegistryError("file larger than %d bytes" % MAX_IMPORT_BYTES)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise RegistryError("the file is neither UTF-8 nor Shift_JIS text") from None


def _split(value: str) -> list[str]:
    return [v for v in value.replace(";", " ").split() if v]


def read_employees(data: bytes) -> tuple[list[dict], list[str]]:
    """Employees and a label (``line N``) for each, from CSV bytes; RegistryError if unusable."""
    text = decode_text(data)
    records = _records(text)
    if not records:
        raise RegistryError("the file is empty")
    header_label, header_row = records[0]
    header = [h.strip().lower() for h in header_row]
    missing = [c for c in ("code", "name") if c not in header]
    if missing:
        raise RegistryError(header_label + ": the header must name the columns code and name")
    unknown = [h for h in header if h and h not in EMPLOYEE_COLUMNS]
    if unknown:
        raise RegistryError("{}: unknown column {}".format(header_label, ", ".join(unknown)))
    employees = []
    labels = []
    for label, row in records[1:]:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise RegistryError(label + ": more cells than the header has columns")
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        try:
            fingers = [int(f) for f in _split(cells.get("fingers", ""))]
        except ValueError:
            raise RegistryError(label + ": finger template IDs are numbers") from None
        employees.append(
            {
                "code": cells.get("code", ""),
                "name": cells.get("name", ""),
                "cards": _split(cells.get("cards", "")),
                "fingers": fingers,
                "lang": cells.get("lang", ""),
                "lines": [x for x in cells.get("lines", "").split("|") if x],
            }
        )
        labels.append(label)
    return employees, labels


def _records(text: str) -> list[tuple[str, list[str]]]:
    """The CSV records of ``text``, each with a label naming where an editor shows it: the line
    it starts on and its record number (they differ once a quoted cell has spanned lines),
    ``line 5 (record 3)``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out = []
    start = 1
    try:
        for number, row in enumerate(reader, start=1):
            out.append(("line %d (record %d)" % (start, number), row))
            start = reader.line_num + 1
    except csv.Error as e:
        raise RegistryError("line %d (record %d): %s" % (start, len(out) + 1, e)) from None
    return out


def import_employees(store: SqlStore, tenant: str, data: bytes) -> int:
    employees, labels = read_employees(data)
    if not employees:
        raise RegistryError("no employees in the file")
    return store.add_employees(tenant, employees, labels)


def _iso(t: int, tz_min: int) -> str:
    zone = timezone(timedelta(minutes=tz_min))
    return datetime.fromtimestamp(t, zone).isoformat()


def export_punches(store: SqlStore, tenant: str) -> str:
    info = store.tenant_info(tenant)
    day_start = int(info["day_start_hour"])
    tenant_tz = int(info["tz_min"])
    records = []
    for row in store.punch_rows(tenant):
        (terminal, seq, synced, t, tz, _boot, kind, method, cred, flags, code, employee, name,
         anchor, received) = row  # fmt: skip
        if synced:
            when, zone, placed = t, tz, "clock"
        elif anchor is not None:
            when, zone, placed = anchor + t, tenant_tz, "boot"
        else:
            when, zone, placed = None, tenant_tz, "unplaced"
        work_date = ""
        if when is not None:
            local = datetime.fromtimestamp(when, timezone(timedelta(minutes=zone)))
            work_date = (local - timedelta(hours=day_start)).date().isoformat()
        records.append(
            {
                "terminal": terminal,
                "seq": seq,
                "employee": employee or "",
                "name": name or "",
                "work_date": work_date,
                "when": when,
                "local_time": "" if when is None else _iso(when, zone),
                "placed": placed,
                "kind": KIND_NAMES[kind] if 0 <= kind < len(KIND_NAMES) else str(kind),
                "kind_derived": "",
                "method": METHOD_NAMES[method] if 0 < method < len(METHOD_NAMES) else str(method),
                "credential": bytes(cred).hex(),
                "offline": "yes" if flags & 1 else "",
                "code": code,
                "result": TEXT.get(code, ""),
                "received_utc": _iso(received, 0),
            }
        )
    # LNK-03: punches without a kind become the first-in / last-out of the working day.
    days: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        if r["employee"] and r["work_date"]:
            days.setdefault((r["employee"], r["work_date"]), []).append(r)
    for day in days.values():
        day.sort(key=lambda r: (r["when"], r["terminal"], r["seq"]))
        for i, r in enumerate(day):
            if r["kind"] != "unspecified":
                r["kind_derived"] = r["kind"]
            elif i == 0:
                r["kind_derived"] = "clock_in"
            elif i == len(day) - 1:
                r["kind_derived"] = "clock_out"
    for r in records:
        if not r["kind_derived"] and r["kind"] != "unspecified":
            r["kind_derived"] = r["kind"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PUNCH_COLUMNS)
    for r in records:
        writer.writerow([csv_cell(r[c]) for c in PUNCH_COLUMNS])
    return out.getvalue()
