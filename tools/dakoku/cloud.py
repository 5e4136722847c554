"""``dakoku cloud``: run and administer the reference receiver.

The database is named by ``--db`` (or the environment variable ``DAKOKU_DB``): a SQLite file
path (``dakoku-cloud.db`` by default) or a ``postgresql://`` URL. Administration works on the
database directly, so it also works during maintenance (to end an emergency window, say); the
receiver's own HTTP administration is read-only and closed during maintenance (MNT-02).

Times for ``maintenance schedule`` are ISO 8601 (``2026-12-05T22:00+09:00``; without an offset
the tenant-independent default is JST, +09:00) or UTC seconds.

A SQLite database that does not exist yet is made by ``tenant add`` (the first command of a new
deployment) or with ``--create``; any other command refuses it, so a typo in ``--db`` does not
silently start an empty database. Terminal secrets are sealed under the key in
``--secret-key-file`` (docs/RECEIVER.md). Everything a terminal or an import supplied is printed
escaped (``simulator.cloud.textsafe``), and a database password never appears in a message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import time
from datetime import datetime, timedelta, timezone

DEFAULT_DB = "dakoku-cloud.db"
JST = timezone(timedelta(hours=9))


def _when(text: str) -> int:
    from simulator.cloud.store import RegistryError

    if text.isdigit():
        return int(text)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RegistryError(f"{text!r} is neither ISO 8601 nor UTC seconds") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=JST)
    return int(value.timestamp())


def _fmt(t: int) -> str:
    return datetime.fromtimestamp(t, JST).isoformat(timespec="minutes")


DESCRIPTION = """\
Run and administer the reference receiver.

The database is named by --db (or the environment variable DAKOKU_DB): a SQLite file path
(dakoku-cloud.db in the current directory by default) or a postgresql:// URL; --db may come
before or after the subcommand. Administration works on the database directly, so it also works
during maintenance (to end an emergency window, say); the receiver's own HTTP administration is
read-only and closed during maintenance (MNT-02).

Times for 'maintenance schedule' are ISO 8601 (2026-12-05T22:00+09:00; without an offset, JST,
+09:00) or UTC seconds."""


def _parser() -> argparse.ArgumentParser:
    from dakoku.clihelp import command, everywhere, parser

    p = parser("dakoku cloud", DESCRIPTION)
    db_help = "SQLite file or postgresql:// URL (default: $DAKOKU_DB, else %s)" % DEFAULT_DB
    p.add_argument("--db", default=os.environ.get("DAKOKU_DB", DEFAULT_DB), help=db_help)
    create_help = (
        "make the SQLite database if it does not exist (default: off; 'tenant add' makes it)"
    )
    p.add_argument("--create", action="store_true", help=create_help)
    key_help = ("key file sealing terminal secrets at rest (default: $DAKOKU_SECRET_KEY_FILE, "
                "else DB.key beside a SQLite database)")  # fmt: skip
    p.add_argument("--secret-key-file", default=os.environ.get("DAKOKU_SECRET_KEY_FILE"),
                   metavar="FILE", help=key_help)  # fmt: skip
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = command(sub, "serve", "run the receiver (HTTP, or HTTPS with --tls-cert) until Ctrl-C")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8080,
                   help="TCP port; 0 takes a free one, printed as 'serving http://HOST:PORT' "
                   "(default: %(default)s)")  # fmt: skip
    s.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="PEM certificate chain: serve HTTPS (default: none, plain HTTP)",
    )
    s.add_argument(
        "--tls-key",
        metavar="PEM",
        help="PEM private key of --tls-cert (default: none, the key is in --tls-cert)",
    )
    s.add_argument(
        "--ingest-budget",
        type=float,
        default=0,
        metavar="PUNCHES_PER_S",
        help="punches per second admitted before 429 (default: 0, unlimited)",
    )
    s.add_argument("--admin-token", default=os.environ.get("DAKOKU_ADMIN_TOKEN"),
                   help="operator token of the HTTP administration, all tenants (default: "
                   "$DAKOKU_ADMIN_TOKEN, else off; prefer the variable or --admin-token-file: "
                   "argv is public)")  # fmt: skip
    s.add_argument("--admin-token-file", default=os.environ.get("DAKOKU_ADMIN_TOKEN_FILE"),
                   metavar="FILE",
                   help="file holding the operator token, first line "
                   "(default: $DAKOKU_ADMIN_TOKEN_FILE, else none)")  # fmt: skip
    s.add_argument(
        "--workers", type=int, help="store threads (default: 1 for SQLite, more for PostgreSQL)"
    )
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="JSON log lines on standard error from this level")  # fmt: skip

    t = command(sub, "tenant", "tenants (contract codes)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    ta = command(t, "add", "add a tenant")
    ta.add_argument("code", help="the tenant's contract code, e.g. ACME01")
    ta.add_argument("--name", default="", help="display name (default: none)")
    ta.add_argument("--day-start", type=int, default=5, metavar="HOUR",
                    help="hour the working day starts, 0-23 (CLK-03)")  # fmt: skip
    command(t, "list", "list tenants")
    command(t, "token", "issue an HTTP administration token for this tenant only (shown once)"
            ).add_argument("code", help="tenant code")  # fmt: skip
    command(t, "revoke-tokens", "revoke every HTTP administration token of the tenant"
            ).add_argument("code", help="tenant code")  # fmt: skip
    for verb in ("enable", "disable"):
        command(t, verb, f"{verb} a tenant's terminals").add_argument("code", help="tenant code")

    m = command(sub, "terminal", "terminals").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    ma = command(m, "add", "register a terminal; its secret is shown once")
    ma.add_argument("tenant", help="tenant code")
    ma.add_argument("id", help="terminal ID, e.g. T0001")
    ma.add_argument("--label", default="", help="where it hangs, e.g. 'front door' (default: none)")
    command(m, "list", "a tenant's terminals, last contact, unsent count").add_argument(
        "tenant", help="tenant code"
    )
    for verb in ("enable", "disable"):
        x = command(m, verb, f"{verb} a terminal")
        x.add_argument("tenant", help="tenant code")
        x.add_argument("id", help="terminal ID")
    mc = command(m, "command", "queue a command for the terminal's next heartbeat")
    mc.add_argument("tenant", help="tenant code")
    mc.add_argument("id", help="terminal ID")
    mc.add_argument("op", choices=["upload_now", "reboot", "resend", "upload_log", "set_time"],
                    help="the command")  # fmt: skip
    mc.add_argument("args", nargs="*", help="resend: FROM TO; upload_log: SINCE; others: none")
    mg = command(m, "config", "give the terminal configuration values (JSON object)")
    mg.add_argument("tenant", help="tenant code")
    mg.add_argument("id", help="terminal ID")
    mg.add_argument("version", type=int, help="configuration version, higher than the last")
    mg.add_argument("values", help="e.g. '{\"double_punch_s\": 90}' (docs/CONFIGURATION.md)")
    mr = command(m, "results", "commands sent to the terminal and their results")
    mr.add_argument("tenant", help="tenant code")
    mr.add_argument("id", help="terminal ID")

    e = command(sub, "employee", "employees").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    ea = command(e, "add", "add an employee")
    ea.add_argument("tenant", help="tenant code")
    ea.add_argument("code", help="employee code, e.g. E0001")
    ea.add_argument("name", help="name as the terminal shows it")
    ea.add_argument("--card", action="append", default=[], metavar="IDM",
                    help="FeliCa IDm, 16 hex digits")  # fmt: skip
    ea.add_argument("--finger", action="append", default=[], type=int, metavar="ID",
                    help="finger template ID")  # fmt: skip
    ea.add_argument(
        "--lang",
        default="",
        choices=["", "ja", "en"],
        help="language of the terminal's messages (default: the terminal's)",
    )
    ea.add_argument("--line", action="append", default=[],
                    help="extra display line, e.g. overtime left (CLK-04)")  # fmt: skip
    ei = command(e, "import", "employees from CSV (all or nothing; layout in docs/RECEIVER.md)")
    ei.add_argument("tenant", help="tenant code")
    ei.add_argument("file", help="CSV file, UTF-8 or Shift_JIS, e.g. examples/staff.csv")
    command(e, "list", "a tenant's employees with cards and fingers").add_argument(
        "tenant", help="tenant code"
    )
    er = command(e, "remove", "remove an employee")
    er.add_argument("tenant", help="tenant code")
    er.add_argument("code", help="employee code")

    c = command(sub, "card", "cards").add_subparsers(dest="action", required=True,
                                                     metavar="ACTION")  # fmt: skip
    ca = command(c, "assign", "give an employee a card")
    ca.add_argument("tenant", help="tenant code")
    ca.add_argument("code", help="employee code")
    ca.add_argument("idm", help="FeliCa IDm, 16 hex digits")

    w = command(sub, "maintenance", "maintenance windows").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    ws = command(w, "schedule", "announce a window START END")
    ws.add_argument("start", help="ISO 8601 (JST without an offset) or UTC seconds")
    ws.add_argument("end", help="ISO 8601 (JST without an offset) or UTC seconds")
    ws.add_argument("--notice", default="", help="text the terminals show (default: none)")
    wn = command(w, "now", "start emergency maintenance now")
    wn.add_argument("--minutes", type=int, default=60, help="how long")
    wn.add_argument("--notice", default="emergency maintenance", help="text the terminals show")
    command(w, "end", "end the maintenance in progress")
    command(w, "list", "windows past, now and announced")

    x = command(sub, "export", "punches as CSV (FCS-05; layout in docs/RECEIVER.md)")
    x.add_argument("tenant", help="tenant code")
    x.add_argument("-o", "--output", metavar="FILE", help="file (default: standard output)")
    f = command(sub, "flagged", "punches stored with a flag, and conflicting resends")
    f.add_argument("tenant", help="tenant code")
    everywhere(p, "--db", help=db_help)
    everywhere(p, "--create", action="store_true", help=create_help)
    everywhere(p, "--secret-key-file", metavar="FILE", help=key_help)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from simulator.cloud.db import redact
    from simulator.cloud.store import KEY_FILE_DEFAULT, RegistryError, SqlStore

    context = None
    admin_token = None
    try:
        if args.cmd == "serve":  # refuse a bad TLS or token setting before anything opens
            context = _tls_context(args.tls_cert, args.tls_key)
            admin_token = _admin_token(args)
        _need_database(args)
    except RegistryError as e:
        sys.stderr.write(f"dakoku cloud: {e}\n")
        return 1
    try:
        store = SqlStore.open(args.db, key_file=args.secret_key_file or KEY_FILE_DEFAULT)
    except RegistryError as e:
        sys.stderr.write(f"dakoku cloud: {redact(str(e), args.db)}\n")
        return 1
    except Exception as e:
        message = " ".join(str(e).split()) or type(e).__name__  # one line
        sys.stderr.write("dakoku cloud: cannot open database %s: %s\n"
                         % (redact(args.db, args.db), redact(message, args.db)))  # fmt: skip
        return 1
    try:
        if args.cmd == "serve":
            return _serve(store, args, context, admin_token)
        return _admin(store, args) or 0
    except RegistryError as e:
        sys.stderr.write(f"dakoku cloud: {e}\n")
        return 1
    except Exception as e:
        if not _database_error(e):
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        sys.stderr.write(f"dakoku cloud: database error: {redact(message, args.db)}\n")
        return 1
    finally:
        store.close()


def _database_error(e: Exception) -> bool:
    import sqlite3

    return isinstance(e, sqlite3.Error) or type(e).__module__.startswith("psycopg")


def _need_database(args) -> None:
    """Refuse to make a new SQLite file unless asked (``--create``, or ``tenant add``)."""
    from simulator.cloud.store import RegistryError

    url = args.db
    if url.startswith(("postgresql://", "postgres://", "host=")):
        return
    path = url[len("sqlite:") :] if url.startswith("sqlite:") else url
    if path == ":memory:" or os.path.exists(path):
        return
    if args.create or (args.cmd == "tenant" and args.action == "add"):
        return
    raise RegistryError(f"no database at {path}: check --db, or give --create to make a new one")


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP; each misuse is one line."""
    from simulator.cloud.store import RegistryError

    if key and not cert:
        raise RegistryError("--tls-key needs --tls-cert (refusing to serve plain HTTP)")
    if not cert:
        return None
    for what, path in (("certificate", cert), ("key", key)):
        if path and not os.path.isfile(path):
            raise RegistryError(f"TLS {what} {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as e:
        reason = e.reason or str(e)
        if "KEY_VALUES_MISMATCH" in str(e):
            raise RegistryError(f"TLS key {key} is not the key of certificate {cert}") from None
        named = f"{cert} and {key}" if key else f"{cert} (no --tls-key: the key must be in it)"
        raise RegistryError(f"TLS certificate {named} unusable: {reason}") from None
    except OSError as e:
        raise RegistryError(f"TLS certificate {cert}: {e.strerror or e}") from None
    return context


def _admin_token(args) -> str | None:
    """The operator token: --admin-token-file (or DAKOKU_ADMIN_TOKEN_FILE), else --admin-token
    (or DAKOKU_ADMIN_TOKEN)."""
    from simulator.cloud.store import RegistryError

    if args.admin_token_file:
        try:
            with open(args.admin_token_file, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise RegistryError(f"cannot read admin token file {args.admin_token_file}: "
                                f"{reason}") from None  # fmt: skip
        token = lines[0].strip() if lines else ""
        if not token:
            raise RegistryError(f"admin token file {args.admin_token_file} is empty")
        return token
    if args.admin_token is not None and not args.admin_token.strip():
        raise RegistryError("the admin token is empty")
    return args.admin_token


def _admin(store, args) -> int:
    from simulator.cloud import csvio
    from simulator.cloud.store import RegistryError
    from simulator.cloud.textsafe import printable as p

    cmd, action = args.cmd, getattr(args, "action", "")
    out = sys.stdout.write
    now = int(time.time())
    if cmd == "tenant":
        if action == "add":
            store.add_tenant(args.code, args.name, day_start_hour=args.day_start)
            out(f"tenant {args.code} added\n")
        elif action == "list":
            for code, name, enabled, version, day_start, _tz in store.iter_tenants():
                state = "enabled" if enabled else "disabled"
                out("%-12s %-24s %-8s roster v%d  day starts %02d:00\n"
                    % (code, p(name), state, version, day_start))  # fmt: skip
        elif action == "token":
            token = store.issue_admin_token(args.code)
            out(f"administration token for {args.code} only (shown once):\n{token}\n")
        elif action == "revoke-tokens":
            n = store.revoke_admin_tokens(args.code)
            out(f"{n} administration token(s) of {args.code} revoked\n")
        else:
            store.set_tenant_enabled(args.code, action == "enable")
            out(f"tenant {args.code} {action}d\n")
    elif cmd == "terminal":
        if action == "add":
            secret = store.add_terminal(args.tenant, args.id, label=args.label)
            out(f"terminal {args.id} added to {args.tenant}\n")
            out(
                "secret (shown once; give it to the terminal as it is: 16 bytes in hex, and the "
                f"HMAC key is the decoded bytes, PRT-AUTH-1):\n{secret.hex()}\n"
            )
        elif action == "list":
            store.tenant_info(args.tenant)
            for t in store.iter_terminals(args.tenant):
                seen = _fmt(t["last_seen"]) if t["last_seen"] else "never"
                out("%-12s %-8s last %s %s, unsent %s  %s\n"
                    % (t["id"], "enabled" if t["enabled"] else "disabled", t["last_kind"] or "-",
                       seen, "-" if t["unsent"] is None else p(str(t["unsent"])),
                       p(t["label"])))  # fmt: skip
        elif action == "command":
            command = _command(args.op, args.args)
            out("queued %s as %s\n" % (args.op, store.queue_command(args.tenant, args.id, command)))
        elif action == "config":
            try:
                values = json.loads(args.values)
            except ValueError:
                raise RegistryError("values: not JSON") from None
            if not isinstance(values, dict):
                raise RegistryError("values: a JSON object of configuration keys")
            from firmware.config import ConfigError, check
            from protocol.messages import MAX_SEQ

            if not 0 <= args.version <= MAX_SEQ:
                raise RegistryError("version: 0..%d" % MAX_SEQ)

            for key, value in values.items():  # the terminal's own rules (CONFIGURATION.md)
                try:
                    check(key, value)
                except ConfigError as e:
                    raise RegistryError(f"values: {e}") from None
            store.set_config(args.tenant, args.id, args.version, values)
            config = {"version": args.version, "values": values}
            store.queue_command(args.tenant, args.id, {"op": "set_config", "config": config})
            out("configuration version %d for %s: sent with its next heartbeat or hello\n"
                % (args.version, args.id))  # fmt: skip
        elif action == "results":
            for number, op, sent, status, detail in store.iter_command_log(args.tenant, args.id):
                when = _fmt(sent) if sent else "not yet sent"
                out("c%d %-11s %-16s %s %s\n"
                    % (number, p(op), when, p(status or "-"), p(detail)))  # fmt: skip
        else:
            store.set_terminal_enabled(args.tenant, args.id, action == "enable")
            out(f"terminal {args.id} {action}d\n")
    elif cmd == "employee":
        if action == "add":
            store.add_employee(args.tenant, args.code, args.name, args.card, args.finger,
                               args.line, args.lang)  # fmt: skip
            out(f"employee {args.code} added\n")
        elif action == "import":
            try:
                with open(args.file, "rb") as fh:
                    data = fh.read()
            except OSError as e:
                raise RegistryError(f"cannot read {args.file}: {e.strerror}") from None
            n = csvio.import_employees(store, args.tenant, data)
            out("%d employees imported\n" % n)
        elif action == "list":
            store.tenant_info(args.tenant)
            for e in store.iter_employees(args.tenant):
                out("%-12s %-20s cards %s fingers %s\n"
                    % (e["code"], p(e["name"]), " ".join(e["cards"]) or "-",
                       " ".join(str(f) for f in e["fingers"]) or "-"))  # fmt: skip
        else:
            store.remove_employee(args.tenant, args.code)
            out(f"employee {args.code} removed\n")
    elif cmd == "card":
        store.assign_card(args.tenant, args.code, args.idm)
        out(f"card {args.idm.lower()} assigned to {args.code}\n")
    elif cmd == "maintenance":
        if action == "schedule":
            start, end = _when(args.start), _when(args.end)
            if end <= now:
                raise RegistryError(f"the window {_fmt(start)} - {_fmt(end)} is already over")
            store.add_maintenance(start, end, args.notice)
            out(f"maintenance {_fmt(start)} - {_fmt(end)} announced\n")
        elif action == "now":
            store.start_emergency(now, args.minutes, args.notice)
            out(f"emergency maintenance until {_fmt(now + args.minutes * 60)}\n")
        elif action == "end":
            n = store.end_maintenance(now)
            out("%s\n" % ("maintenance ended" if n else "no maintenance in progress"))
        else:
            for _id, start, end, notice, emergency in store.maintenance_windows():
                state = "now" if start <= now < end else ("past" if end <= now else "announced")
                out("%s - %s  %-9s %s%s\n" % (_fmt(start), _fmt(end), state, p(notice),
                                               " (emergency)" if emergency else ""))  # fmt: skip
    elif cmd == "export":
        text = csvio.export_punches(store, args.tenant)
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        else:
            out(text)
    elif cmd == "flagged":
        from protocol.codes import TEXT

        store.tenant_info(args.tenant)
        punches, conflicts = store.flagged(args.tenant)
        for terminal, seq, code, _t, _synced, cred, employee, received in punches:
            out("%s #%d  code %d (%s)  cred %s  employee %s  received %s\n"
                % (terminal, seq, code, TEXT.get(code, "?"), bytes(cred).hex(),
                   p(employee or "-"), _fmt(received)))  # fmt: skip
        for terminal, seq, punch, received in conflicts:
            out("%s #%d  conflicting resend kept aside: %s  received %s\n"
                % (terminal, seq, json.dumps(json.loads(punch)), _fmt(received)))  # fmt: skip
        if not punches and not conflicts:
            out("no flagged punches\n")
    return 0


def _command(op: str, argv: list[str]) -> dict:
    from protocol.messages import MAX_SEQ
    from simulator.cloud.store import RegistryError

    want = {"resend": 2, "upload_log": 1}.get(op, 0)
    if len(argv) != want or not all(a.isdigit() for a in argv):
        raise RegistryError("%s takes %d number(s)" % (op, want))
    if any(int(a) > MAX_SEQ for a in argv):
        raise RegistryError("%s: sequence and event numbers are at most %d" % (op, MAX_SEQ))
    command: dict = {"op": op}
    if op == "resend":
        command["from"], command["to"] = int(argv[0]), int(argv[1])
        if not 1 <= command["from"] <= command["to"]:
            raise RegistryError("resend: 1 <= FROM <= TO")
    elif op == "upload_log":
        command["since"] = int(argv[0])
    # set_time: the receiver puts in the time when it sends the command (not now: the
    # terminal may come back hours later).
    return command


def _serve(store, args, context, admin_token) -> int:
    from simulator.cloud.pacing import Pacer
    from simulator.cloud.service import Receiver, configure_logging, log

    configure_logging(args.log_level)
    if store.box is None:
        log.warning("terminal secrets are not encrypted at rest: give --secret-key-file")
    if admin_token and context is None and args.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("the admin token travels in clear: serve HTTPS (--tls-cert, --tls-key)")
    if args.ingest_budget:
        store.pacer = Pacer(args.ingest_budget)
    receiver = Receiver(store, admin_token=admin_token, workers=args.workers,
                        ssl_context=context)  # fmt: skip

    async def run() -> None:
        host, port = await receiver.start(args.host, args.port)
        scheme = "https" if context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        # Plain text on standard output (the JSON log goes to standard error): with --port 0
        # this is where the free port the system chose is read.
        print(f"dakoku cloud: serving {scheme}://{shown}:{port} (database {args.db}); "
              "Ctrl-C stops", flush=True)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await receiver.close()

    asyncio.run(run())
    return 0
