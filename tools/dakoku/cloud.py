"""``dakoku cloud``: run and administer the reference receiver.

The database is named by ``--db`` (or the environment variable ``DAKOKU_DB``): a SQLite file
path (``dakoku-cloud.db`` by default) or a ``postgresql://`` URL. Administration works on the
database directly, so it also works during maintenance (to end an emergency window, say); the
receiver's own HTTP administration is read-only and closed during maintenance (MNT-02).

Times for ``maintenance schedule`` are ISO 8601 (``2026-12-05T22:00+09:00``; without an offset
the tenant-independent default is JST, +09:00) or UTC seconds.
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dakoku cloud", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default=os.environ.get("DAKOKU_DB", DEFAULT_DB))
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the receiver")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    s.add_argument("--tls-key", help="PEM private key of --tls-cert")
    s.add_argument("--ingest-budget", type=float, default=0,
                   help="punches per second admitted before 429 (0: unlimited)")  # fmt: skip
    s.add_argument("--admin-token", default=os.environ.get("DAKOKU_ADMIN_TOKEN"),
                   help="enable read-only HTTP administration with this bearer token")  # fmt: skip
    s.add_argument("--workers", type=int, help="store threads (1 for SQLite)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    t = sub.add_parser("tenant", help="tenants (contract codes)").add_subparsers(
        dest="action", required=True
    )
    ta = t.add_parser("add")
    ta.add_argument("code")
    ta.add_argument("--name", default="")
    ta.add_argument("--day-start", type=int, default=5, help="day-start hour (CLK-03)")
    t.add_parser("list")
    for verb in ("enable", "disable"):
        t.add_parser(verb).add_argument("code")

    m = sub.add_parser("terminal", help="terminals").add_subparsers(dest="action", required=True)
    ma = m.add_parser("add", help="register a terminal; its secret is shown once")
    ma.add_argument("tenant")
    ma.add_argument("id")
    ma.add_argument("--label", default="")
    m.add_parser("list").add_argument("tenant")
    for verb in ("enable", "disable"):
        x = m.add_parser(verb)
        x.add_argument("tenant")
        x.add_argument("id")
    mc = m.add_parser("command", help="queue a command for the terminal's next heartbeat")
    mc.add_argument("tenant")
    mc.add_argument("id")
    mc.add_argument("op", choices=["upload_now", "reboot", "resend", "upload_log", "set_time"])
    mc.add_argument("args", nargs="*", help="resend: FROM TO; upload_log: SINCE")
    mg = m.add_parser("config", help="give the terminal configuration values (JSON object)")
    mg.add_argument("tenant")
    mg.add_argument("id")
    mg.add_argument("version", type=int)
    mg.add_argument("values", help="e.g. '{\"double_punch_s\": 90}'")
    mr = m.add_parser("results", help="commands sent to the terminal and their results")
    mr.add_argument("tenant")
    mr.add_argument("id")

    e = sub.add_parser("employee", help="employees").add_subparsers(dest="action", required=True)
    ea = e.add_parser("add")
    ea.add_argument("tenant")
    ea.add_argument("code")
    ea.add_argument("name")
    ea.add_argument("--card", action="append", default=[], help="FeliCa IDm, 16 hex digits")
    ea.add_argument("--finger", action="append", default=[], type=int, help="template ID")
    ea.add_argument("--lang", default="", choices=["", "ja", "en"])
    ea.add_argument("--line", action="append", default=[], help="display line (CLK-04)")
    ei = e.add_parser("import", help="employees from CSV (all or nothing)")
    ei.add_argument("tenant")
    ei.add_argument("file")
    e.add_parser("list").add_argument("tenant")
    er = e.add_parser("remove")
    er.add_argument("tenant")
    er.add_argument("code")

    c = sub.add_parser("card", help="cards").add_subparsers(dest="action", required=True)
    ca = c.add_parser("assign")
    ca.add_argument("tenant")
    ca.add_argument("code")
    ca.add_argument("idm")

    w = sub.add_parser("maintenance", help="maintenance windows").add_subparsers(
        dest="action", required=True
    )
    ws = w.add_parser("schedule", help="announce a window START END")
    ws.add_argument("start")
    ws.add_argument("end")
    ws.add_argument("--notice", default="")
    wn = w.add_parser("now", help="start emergency maintenance now")
    wn.add_argument("--minutes", type=int, default=60)
    wn.add_argument("--notice", default="emergency maintenance")
    w.add_parser("end", help="end the maintenance in progress")
    w.add_parser("list")

    x = sub.add_parser("export", help="punches as CSV (FCS-05)")
    x.add_argument("tenant")
    x.add_argument("-o", "--output", help="file (default: standard output)")
    f = sub.add_parser("flagged", help="punches stored with a flag, and conflicting resends")
    f.add_argument("tenant")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from simulator.cloud.store import RegistryError, SqlStore

    try:
        store = SqlStore.open(args.db)
    except Exception as e:
        sys.stderr.write(f"dakoku cloud: cannot open database {args.db}: {e}\n")
        return 1
    try:
        if args.cmd == "serve":
            return _serve(store, args)
        return _admin(store, args) or 0
    except RegistryError as e:
        sys.stderr.write(f"dakoku cloud: {e}\n")
        return 1
    finally:
        store.close()


def _admin(store, args) -> int:
    from simulator.cloud import csvio
    from simulator.cloud.store import RegistryError

    cmd, action = args.cmd, getattr(args, "action", "")
    out = sys.stdout.write
    now = int(time.time())
    if cmd == "tenant":
        if action == "add":
            store.add_tenant(args.code, args.name, day_start_hour=args.day_start)
            out(f"tenant {args.code} added\n")
        elif action == "list":
            for code, name, enabled, version, day_start, _tz in store.tenants():
                state = "enabled" if enabled else "disabled"
                out("%-12s %-24s %-8s roster v%d  day starts %02d:00\n"
                    % (code, name, state, version, day_start))  # fmt: skip
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
            for t in store.terminals(args.tenant):
                seen = _fmt(t["last_seen"]) if t["last_seen"] else "never"
                out("%-12s %-8s last %s %s, unsent %s  %s\n"
                    % (t["id"], "enabled" if t["enabled"] else "disabled", t["last_kind"] or "-",
                       seen, "-" if t["unsent"] is None else t["unsent"], t["label"]))  # fmt: skip
        elif action == "command":
            command = _command(args.op, args.args, now)
            out("queued %s as %s\n" % (args.op, store.queue_command(args.tenant, args.id, command)))
        elif action == "config":
            try:
                values = json.loads(args.values)
            except ValueError:
                raise RegistryError("values: not JSON") from None
            if not isinstance(values, dict):
                raise RegistryError("values: a JSON object of configuration keys")
            from firmware.config import ConfigError, check

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
            for number, op, sent, status, detail in store.command_log(args.tenant, args.id):
                when = _fmt(sent) if sent else "not yet sent"
                out("c%d %-11s %-16s %s %s\n" % (number, op, when, status or "-", detail))
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
            for e in store.employees(args.tenant):
                out("%-12s %-20s cards %s fingers %s\n"
                    % (e["code"], e["name"], " ".join(e["cards"]) or "-",
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
                out("%s - %s  %-9s %s%s\n" % (_fmt(start), _fmt(end), state, notice,
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
                   employee or "-", _fmt(received)))  # fmt: skip
        for terminal, seq, punch, received in conflicts:
            out("%s #%d  conflicting resend kept aside: %s  received %s\n"
                % (terminal, seq, json.dumps(json.loads(punch)), _fmt(received)))  # fmt: skip
        if not punches and not conflicts:
            out("no flagged punches\n")
    return 0


def _command(op: str, argv: list[str], now: int) -> dict:
    from simulator.cloud.store import RegistryError

    want = {"resend": 2, "upload_log": 1}.get(op, 0)
    if len(argv) != want or not all(a.isdigit() for a in argv):
        raise RegistryError("%s takes %d number(s)" % (op, want))
    command: dict = {"op": op}
    if op == "resend":
        command["from"], command["to"] = int(argv[0]), int(argv[1])
        if not 1 <= command["from"] <= command["to"]:
            raise RegistryError("resend: 1 <= FROM <= TO")
    elif op == "upload_log":
        command["since"] = int(argv[0])
    elif op == "set_time":
        command["time"] = now
    return command


def _serve(store, args) -> int:
    from simulator.cloud.pacing import Pacer
    from simulator.cloud.service import Receiver, configure_logging

    configure_logging(args.log_level)
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    if args.ingest_budget:
        store.pacer = Pacer(args.ingest_budget)
    receiver = Receiver(store, admin_token=args.admin_token, workers=args.workers,
                        ssl_context=context)  # fmt: skip

    async def run() -> None:
        await receiver.start(args.host, args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await receiver.close()

    asyncio.run(run())
    return 0
