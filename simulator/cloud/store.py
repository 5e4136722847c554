"""The receiver's store on SQLite or PostgreSQL: the store interface of ``protocol.server`` plus
the registry that ``dakoku cloud`` administers.

The protocol half follows ``protocol.memstore.MemoryStore`` (the reference), method for method;
the same tests run against all three. What this adds:

- durability: every method that changes something runs in one transaction that has committed
  before it returns, so a batch is acknowledged only once it is on disk (PRT-PUNCH-8);
- idempotency in the database: the primary key (tenant, terminal, seq) of ``punches``; a
  duplicate is answered with the original result code (PRT-PUNCH-6), a different punch under a
  held number is kept in ``conflicts`` and answered 22;
- the registry: tenants, terminals with secrets, employees with cards and fingers (duplicate
  employee codes refused, LNK-01), roster versions and deletions for delta pages, maintenance
  windows, per-terminal configuration and commands;
- boot anchors: a hello or heartbeat with a synced clock ties ``boot`` to real time, so punches
  taken with an invalid clock can be placed in the CSV export (PRT-HELLO-2).

Pacing (``throttle``) is delegated to a :class:`simulator.cloud.pacing.Pacer` when one is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time as _time
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

from firmware.punch import METHOD_CARD_AND_FINGER, METHOD_FELICA, METHOD_FINGER, Punch
from protocol.codes import CONFLICT, CREDENTIAL_TAKEN, MALFORMED, UNKNOWN_EMPLOYEE, ProtocolError
from protocol.messages import MAX_TEXT, MAX_TIME
from protocol.server import COMMANDS_MAX, ROSTER_PAGE_MAX, trusted_time
from simulator.cloud.db import PostgresDb, SqliteDb, open_db

# Windows announced in hello and heartbeat answers: those starting within this many seconds
# (MNT-01 asks for about two weeks ahead; a little more is harmless).
ANNOUNCE_S = 31 * 86400
NONCE_PURGE_EVERY = 2000  # uses between purges of nonces older than the replay window
CODE_MAX = 32
LIST_PAGE = 500  # rows per query of a registry listing (under SQLite's oldest limit of 999
# parameters with the tenant added: a page's credentials are looked up by its codes)
NAME_MAX = 64
CARDS_MAX = 8  # openapi.json Employee.cards
FINGERS_MAX = 10  # Employee.fingers


class RegistryError(Exception):
    """An administrative request the registry refuses; the text says why (for the CLI)."""


KEY_FILE_DEFAULT = object()  # SqlStore.open: the key file from the environment or beside SQLite


class TooMany(RegistryError):
    """One more card or finger than an employee's roster record may carry (openapi.json)."""


def _method_key(method: int) -> int:
    # A card-then-finger punch is identified by its card (PRT-PUNCH-1).
    return METHOD_FELICA if method == METHOD_CARD_AND_FINGER else method


def finger_bytes(template: int) -> bytes:
    return int(template).to_bytes(2, "big")


class SqlStore:
    def __init__(self, db: SqliteDb | PostgresDb, clock=None, box=None) -> None:
        self.db = db
        self.box = box  # a sealing.SecretBox: terminal secrets are sealed at rest, or None
        self.pacer: Any = None  # a Pacer, or None: never throttle
        self.metrics: Any = None  # a Metrics told of every committed batch, or None
        self.clock = clock or (lambda: int(_time.time()))  # for registry timestamps only
        self._nonce_uses = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._maint_cache: tuple[float, list[tuple]] | None = None
        self.maintenance_cache_s = 1.0  # another process (the CLI) may change windows
        self._grouped = False  # inside group(): batches are counted after its commit
        self._uncounted: list = []

    @contextmanager
    def group(self):
        """The database's group commit (:meth:`SqliteDb.group`), with the metrics told of the
        group's batches only once its commit has succeeded (a failed one counts nothing)."""
        self._grouped = True
        self._uncounted = []
        try:
            with self.db.group():
                yield
        finally:
            self._grouped = False
            outcomes, self._uncounted = self._uncounted, []
        if self.metrics is not None:
            for out in outcomes:
                self.metrics.stored(out)

    @classmethod
    def open(cls, url: str, clock=None, key_file: Any = KEY_FILE_DEFAULT) -> SqlStore:
        """``key_file``: where the key that seals terminal secrets is (docs/RECEIVER.md). By
        default ``DAKOKU_SECRET_KEY_FILE``, else for a SQLite file ``<file>.key`` beside it
        (made on first use); ``None``: secrets in plaintext (refused if they are sealed)."""
        db = open_db(url)
        try:
            box = _secret_box(db, key_file)
        except BaseException:
            db.close()
            raise
        return cls(db, clock, box)

    def close(self) -> None:
        self.db.close()

    # ================================================================ the store interface

    def tenant(self, code):
        with self.db.reader() as tx:
            row = tx.one("SELECT enabled FROM tenants WHERE code = ?", (code,))
        return None if row is None else {"enabled": bool(row[0])}

    def terminal(self, tenant, terminal_id):
        with self.db.reader() as tx:
            row = tx.one(
                "SELECT secret, enabled, created FROM terminals WHERE tenant = ? AND id = ?",
                (tenant, terminal_id),
            )
        if row is None:
            return None
        # The server asks clock_context of the same terminal later in this request.
        self._local.registered = (tenant, terminal_id, int(row[2]))
        secret = bytes(row[0])
        if self.box is not None:
            secret = self.box.open(secret, tenant, terminal_id)
        return {"secret": secret, "enabled": bool(row[1])}

    def use_nonce(self, tenant, terminal_id, nonce, now, keep_s):
        # Not synced on its own: the batch that follows is, and takes this along. A crash
        # right after an answer to a hello or heartbeat may forget its nonce: replaying such a
        # request within the window would record the same state again, nothing more (punches
        # are idempotent by sequence number).
        with self.db.transaction(durable=False) as tx:
            # One statement: a new nonce is inserted, one seen more than keep_s ago is taken
            # again, one seen within keep_s is left alone (no row changed: a replay).
            changed = tx.execute(
                "INSERT INTO nonces (tenant, terminal, nonce, used) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, terminal, nonce) DO UPDATE SET used = excluded.used "
                "WHERE nonces.used < ?",
                (tenant, terminal_id, nonce, now, now - keep_s),
            )
            if changed:
                self._nonce_uses += 1
                if self._nonce_uses % NONCE_PURGE_EVERY == 0:
                    tx.execute("DELETE FROM nonces WHERE used < ?", (now - keep_s,))
        return bool(changed)

    def _windows(self) -> list[tuple]:
        cached = self._maint_cache
        wall = _time.monotonic()
        if cached is not None and wall - cached[0] < self.maintenance_cache_s:
            return cached[1]
        with self.db.transaction() as tx:
            rows = tx.rows(
                "SELECT id, start_t, end_t, notice, emergency FROM maintenance ORDER BY start_t"
            )
        self._maint_cache = (wall, rows)
        return rows

    def maintenance(self, now):
        current = None
        upcoming = []
        for _id, start, end, notice, _emergency in self._windows():
            window = {"start": start, "end": end, "notice": notice}
            if start <= now < end:
                if current is None or end > current["end"]:
                    current = window
            elif now < start <= now + ANNOUNCE_S:
                upcoming.append(window)
        return current, upcoming

    def throttle(self, tenant, terminal_id, now, cost=0):
        if self.pacer is None:
            return 0
        return self.pacer.wait(terminal_id, cost, getattr(self._local, "arrived", None))

    def request_arrived(self, at):
        """The HTTP edge says when the request this thread now handles arrived (pacer clock)."""
        self._local.arrived = at

    def known_credentials(self, tenant, pairs):
        """The (method, credential) pairs of ``pairs`` that identify an employee of ``tenant``."""
        owners = self._employees_of(tenant, pairs)
        # The server asks this just before store_punches with the same batch: keep the answer
        # for it (per thread: one request at a time per worker thread).
        self._local.owners = (tenant, owners, list(pairs))
        return set(owners)

    def _employees_of(self, tenant, pairs, tx=None) -> dict:
        keys = {(_method_key(m), bytes(c)) for m, c in pairs}
        if not keys:
            return {}
        found = {}
        if tx is None:
            with self.db.reader() as tx2:
                rows = self._credential_rows(tx2, tenant, keys)
        else:
            rows = self._credential_rows(tx, tenant, keys)
        for method, cred, employee, name in rows:
            found[(method, bytes(cred))] = (employee, name)
        out = {}
        for m, c in pairs:
            employee = found.get((_method_key(m), bytes(c)))
            if employee is not None:
                out[(m, bytes(c))] = employee
        return out

    def _credential_rows(self, tx, tenant, keys):
        """Rows (method, credential, employee, name) for ``keys``: one indexed IN query per
        method."""
        by_method: dict[int, list[bytes]] = {}
        for m, c in keys:
            by_method.setdefault(m, []).append(c)
        rows = []
        for method, creds in by_method.items():
            for i in range(0, len(creds), 500):
                part = creds[i : i + 500]
                rows.extend(
                    tx.rows(
                        "SELECT c.method, c.credential, c.employee, e.name FROM credentials c "
                        "JOIN employees e ON e.tenant = c.tenant AND e.code = c.employee "
                        "WHERE c.tenant = ? AND c.method = ? "
                        "AND c.credential IN (" + ",".join("?" * len(part)) + ")",
                        [tenant, method, *part],
                    )
                )
        return rows

    def store_punches(self, tenant, terminal_id, rows, now):
        out = []
        memo = getattr(self._local, "owners", None)
        self._local.owners = None
        rows = [_with_high(row) for row in rows]
        pairs = [(p.method, p.credential) for p, _code, _high in rows]
        with self.db.transaction() as tx:
            if memo is not None and memo[0] == tenant and memo[2] == pairs:
                owners = memo[1]  # looked up a moment ago by known_credentials
            else:
                owners = self._employees_of(tenant, pairs, tx)
            seqs = [p.seq for p, _code, _high in rows]
            held = {}
            for i in range(0, len(seqs), 500):
                part = seqs[i : i + 500]
                marks = ",".join("?" * len(part))
                for r in tx.rows(
                    "SELECT seq, synced, t, tz, boot, kind, method, credential, flags, code "
                    "FROM punches WHERE tenant = ? AND terminal = ? AND seq IN (" + marks + ")",
                    [tenant, terminal_id, *part],
                ):
                    held[r[0]] = r
            fresh = []
            conflicts = []
            for punch, code, high in rows:
                old = held.get(punch.seq)
                if old is None:
                    owner = owners.get((punch.method, punch.credential)) or (None, None)
                    fresh.append(
                        (
                            tenant,
                            terminal_id,
                            punch.seq,
                            int(punch.clock_synced),
                            punch.time,
                            punch.utc_offset_min,
                            punch.boot_id,
                            punch.kind,
                            punch.method,
                            punch.credential,
                            punch.flags,
                            code,
                            owner[0],
                            now,
                            owner[1],
                            high,
                        )
                    )
                    held[punch.seq] = (punch.seq, *_columns(punch), code)
                    out.append((punch.seq, code, False))
                elif tuple(old[1:9]) == _columns(punch):
                    out.append((punch.seq, old[9], True))
                else:
                    conflicts.append(
                        (tenant, terminal_id, punch.seq, json.dumps(_punch_obj(punch)), now)
                    )
                    out.append((punch.seq, CONFLICT, True))
            tx.many(
                "INSERT INTO punches (tenant, terminal, seq, synced, t, tz, boot, kind, method, "
                "credential, flags, code, employee, received, employee_name, t_high) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                fresh,
            )
            tx.many(
                "INSERT INTO conflicts (tenant, terminal, seq, punch, received) "
                "VALUES (?, ?, ?, ?, ?)",
                conflicts,
            )
        if self.metrics is not None:
            if self._grouped:
                self._uncounted.append(out)  # counted when the group has committed
            else:
                self.metrics.stored(out)  # after the commit: counts only what is durable
        return out

    def clock_context(self, tenant, terminal_id, seq):
        """What the terminal's clock said before ``seq`` (protocol.server): the latest trusted
        time up to the held punch just below ``seq``, and when the terminal was registered."""
        memo = getattr(self._local, "registered", None)
        with self.db.reader() as tx:
            row = tx.one(
                "SELECT t_high, synced, t, code FROM punches WHERE tenant = ? AND terminal = ? "
                "AND seq < ? ORDER BY seq DESC LIMIT 1",
                (tenant, terminal_id, seq),
            )
            if memo is not None and memo[:2] == (tenant, terminal_id):
                created: tuple | None = (memo[2],)
            else:
                created = tx.one(
                    "SELECT created FROM terminals WHERE tenant = ? AND id = ?",
                    (tenant, terminal_id),
                )
        high = None
        if row is not None:
            # A row stored before t_high existed counts with its own time, if trusted.
            high = row[0]
            if high is None and row[1] and row[3] in (0, 7):
                high = row[2]
        return {"high": high, "registered": int(created[0]) if created else 0}

    def high_seq(self, tenant, terminal_id):
        with self.db.reader() as tx:
            row = tx.one(
                "SELECT MAX(seq) FROM punches WHERE tenant = ? AND terminal = ?",
                (tenant, terminal_id),
            )
        return int(row[0]) if row and row[0] is not None else 0

    def terminal_settings(self, tenant, terminal_id):
        with self.db.transaction() as tx:
            cfg = tx.one(
                "SELECT version, config_values FROM configs WHERE tenant = ? AND terminal = ?",
                (tenant, terminal_id),
            )
            roster = tx.one("SELECT roster_version FROM tenants WHERE code = ?", (tenant,))
            fw = tx.one("SELECT value FROM settings WHERE key = 'min_offline_fw'")
        return {
            "config": None
            if cfg is None
            else {"version": int(cfg[0]), "values": json.loads(cfg[1])},
            "roster": int(roster[0]) if roster else 0,
            "min_offline_fw": fw[0] if fw else "",
        }

    def record_state(self, tenant, terminal_id, kind, info, now):
        clock = info.get("clock") or {}
        with self.db.transaction() as tx:
            if kind == "hello":
                before = tx.one(
                    "SELECT last_state FROM terminals WHERE tenant = ? AND id = ?",
                    (tenant, terminal_id),
                )
                old_boot = _boot_of(before[0] if before else "")
                if old_boot is not None and old_boot != clock.get("boot"):
                    # A reboot command's result is lost with the reboot: its result is the
                    # hello of the new boot (else it would be sent again, and again).
                    tx.execute(
                        "UPDATE commands SET status = 'ok', detail = ? WHERE tenant = ? AND "
                        "terminal = ? AND status = '' AND sent IS NOT NULL AND body = ?",
                        (
                            "restarted (boot %s, then %s)" % (old_boot, clock.get("boot")),
                            tenant,
                            terminal_id,
                            json.dumps({"op": "reboot"}),
                        ),
                    )
            tx.execute(
                "UPDATE terminals SET last_kind = ?, last_state = ?, last_seen = ? "
                "WHERE tenant = ? AND id = ?",
                (kind, json.dumps(info, sort_keys=True), now, tenant, terminal_id),
            )
            if clock.get("synced") and clock.get("time") is not None:
                tx.execute(
                    "INSERT INTO boot_anchors (tenant, terminal, boot, offset_s) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (tenant, terminal, boot) "
                    "DO UPDATE SET offset_s = excluded.offset_s",
                    (tenant, terminal_id, clock["boot"], clock["time"] - clock["up"]),
                )

    def commands(self, tenant, terminal_id, results, now, limit=COMMANDS_MAX):
        """Record results (the first result of a command counts: a heartbeat resent after a
        lost answer repeats them), then the commands still without a result, oldest first, at
        most ``limit``: a command goes out in every heartbeat answer until its result arrives
        (PRT-CMD-2), so a lost answer loses nothing. ``sent`` keeps the first time it went."""
        with self.db.transaction() as tx:
            for result in results:
                tx.execute(
                    "UPDATE commands SET status = ?, detail = ? "
                    "WHERE tenant = ? AND terminal = ? AND id = ? AND status = ''",
                    (
                        result["status"],
                        result.get("detail", ""),
                        tenant,
                        terminal_id,
                        _command_number(result["id"]),
                    ),
                )
            pending = tx.rows(
                "SELECT id, body FROM commands WHERE tenant = ? AND terminal = ? "
                "AND status = '' ORDER BY id LIMIT ?",
                (tenant, terminal_id, limit),
            )
            out = []
            for number, body in pending:
                command = json.loads(body)
                command["id"] = "c%d" % number
                out.append(command)
            tx.many(
                "UPDATE commands SET sent = ? WHERE id = ? AND sent IS NULL",
                [(now, number) for number, _ in pending],
            )
        return out

    def roster(self, tenant, since, after, limit):
        with self.db.transaction() as tx:
            row = tx.one("SELECT roster_version FROM tenants WHERE code = ?", (tenant,))
            version = int(row[0]) if row else 0
            full = since == 0 or since > version
            if not full:
                # More removals than a page may carry: a full roster says them all.
                removed = tx.one(
                    "SELECT COUNT(*) FROM deleted_employees WHERE tenant = ? AND version > ?",
                    (tenant, since),
                )
                full = bool(removed and removed[0] > ROSTER_PAGE_MAX)
            floor = 0 if full else since
            args: list[Any] = [tenant, floor]
            where = "tenant = ? AND version > ?"
            if after is not None:
                where += " AND code > ?"
                args.append(after)
            rows = tx.rows(
                "SELECT code, name, lang, lines FROM employees WHERE "
                + where
                + " ORDER BY code LIMIT ?",
                [*args, limit + 1],
            )
            more = len(rows) > limit
            rows = rows[:limit]
            upsert = []
            codes = [r[0] for r in rows]
            creds: dict[str, tuple[list, list]] = {c: ([], []) for c in codes}
            if codes:
                marks = ",".join("?" * len(codes))
                for method, cred, employee in tx.rows(
                    "SELECT method, credential, employee FROM credentials "
                    "WHERE tenant = ? AND employee IN (" + marks + ") ORDER BY credential",
                    [tenant, *codes],
                ):
                    if method == METHOD_FELICA:
                        creds[employee][0].append(bytes(cred).hex())
                    elif method == METHOD_FINGER:
                        creds[employee][1].append(int.from_bytes(bytes(cred), "big"))
            for code, name, lang, lines in rows:
                upsert.append(
                    {
                        "code": code,
                        "name": name,
                        "lang": lang,
                        "cards": creds[code][0],
                        "fingers": creds[code][1],
                        "lines": json.loads(lines),
                    }
                )
            delete = []
            if not full and after is None:
                delete = [
                    r[0]
                    for r in tx.rows(
                        "SELECT code FROM deleted_employees WHERE tenant = ? AND version > ? "
                        "ORDER BY code",
                        (tenant, since),
                    )
                ]
        return {
            "version": version,
            "full": full,
            "upsert": upsert,
            "delete": delete,
            "next": codes[-1] if more else None,
        }

    def store_log(self, tenant, terminal_id, events, now):
        with self.db.transaction() as tx:
            tx.many(
                "INSERT INTO events (tenant, terminal, n, code, t, up, boot, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, terminal, n) DO NOTHING",
                [
                    (tenant, terminal_id, e["n"], e["code"], e["t"], e["up"], e["boot"], e["text"])
                    for e in events
                ],
            )
            row = tx.one(
                "SELECT MAX(n) FROM events WHERE tenant = ? AND terminal = ?",
                (tenant, terminal_id),
            )
        return int(row[0]) if row and row[0] is not None else 0

    def enrol(self, tenant, code, method, credential, now):
        """A terminal in service mode gives ``code`` a card or finger (PRT-ENROL-*)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT name FROM employees WHERE tenant = ? AND code = ?", (tenant, code))
            if row is None:
                raise ProtocolError(UNKNOWN_EMPLOYEE, "no employee %s" % code, "code")
            try:
                owner = self._give(tx, tenant, code, (method, bytes(credential)))
            except TooMany as e:
                raise ProtocolError(MALFORMED, str(e), "cred") from None
            if owner is not None:
                raise ProtocolError(
                    CREDENTIAL_TAKEN, "credential belongs to another employee", "cred"
                )
            roster = tx.one("SELECT roster_version FROM tenants WHERE code = ?", (tenant,))
        return {"code": code, "name": row[0], "roster": int(roster[0]) if roster else 0}

    def _give(self, tx, tenant, code, key):
        """Give employee ``code`` the credential ``key`` (method, bytes) in a new roster version;
        nothing to do if it is already theirs. Returns the other owner's code if it is someone
        else's (and changes nothing), else None."""
        owner = tx.one(
            "SELECT employee FROM credentials WHERE tenant = ? AND method = ? AND credential = ?",
            (tenant, key[0], key[1]),
        )
        if owner is not None:
            return None if owner[0] == code else owner[0]
        most = CARDS_MAX if key[0] == METHOD_FELICA else FINGERS_MAX
        held = tx.one(
            "SELECT COUNT(*) FROM credentials WHERE tenant = ? AND employee = ? AND method = ?",
            (tenant, code, key[0]),
        )
        if held and held[0] >= most:
            what = "cards" if key[0] == METHOD_FELICA else "finger templates"
            raise TooMany(f"employee {code} has {most} {what}, the most a roster record carries")
        version = self._bump(tx, tenant)
        tx.execute(
            "INSERT INTO credentials (tenant, method, credential, employee) VALUES (?, ?, ?, ?)",
            (tenant, key[0], key[1], code),
        )
        tx.execute(
            "UPDATE employees SET version = ? WHERE tenant = ? AND code = ?",
            (version, tenant, code),
        )
        return None

    # ======================================================================== registry

    def add_tenant(self, code, name="", enabled=True, day_start_hour=5, tz_min=540):
        _check_code(code, "tenant code")
        if not 0 <= int(day_start_hour) <= 23:
            raise RegistryError("day-start hour must be 0..23")
        with self.db.transaction() as tx:
            if tx.one("SELECT 1 FROM tenants WHERE code = ?", (code,)):
                raise RegistryError(f"tenant {code} already exists")
            tx.execute(
                "INSERT INTO tenants (code, name, enabled, day_start_hour, tz_min, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (code, name, int(enabled), int(day_start_hour), int(tz_min), self.clock()),
            )

    def set_tenant_enabled(self, code, enabled):
        with self.db.transaction() as tx:
            if not tx.execute(
                "UPDATE tenants SET enabled = ? WHERE code = ?", (int(enabled), code)
            ):
                raise RegistryError(f"no tenant {code}")

    def tenants(self):
        return list(self.iter_tenants())

    def iter_tenants(self, page=LIST_PAGE):
        """(code, name, enabled, roster_version, day_start_hour, tz_min), by code, read a page
        at a time (keyset: code > the last one), so no listing holds one huge result."""
        return self._keyset(
            "SELECT code, name, enabled, roster_version, day_start_hour, tz_min "
            "FROM tenants WHERE code > ? ORDER BY code LIMIT ?",
            (),
            page,
        )

    def _keyset(self, sql, args, page, first=""):
        """Rows of ``sql`` (its last two placeholders: the key after which to go on, from
        ``first``, and the page size; the key is the first column), one read per page."""
        after = first
        while True:
            with self.db.reader() as tx:
                rows = tx.rows(sql, [*args, after, page])
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def tenant_info(self, code):
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT code, name, enabled, roster_version, day_start_hour, tz_min "
                "FROM tenants WHERE code = ?",
                (code,),
            )
        if row is None:
            raise RegistryError(f"no tenant {code}")
        keys = ("code", "name", "enabled", "roster_version", "day_start_hour", "tz_min")
        return dict(zip(keys, row, strict=False))

    def add_terminal(self, tenant, terminal_id, secret=None, enabled=True, label=""):
        """Register a terminal; returns its secret (16 random bytes unless given)."""
        _check_code(terminal_id, "terminal ID")
        if secret is None:
            secret = secrets.token_bytes(16)
        if len(secret) < 16:
            raise RegistryError("a terminal secret has at least 16 bytes")
        with self.db.transaction() as tx:
            self._need_tenant(tx, tenant)
            if tx.one("SELECT 1 FROM terminals WHERE tenant = ? AND id = ?", (tenant, terminal_id)):
                raise RegistryError(f"terminal {terminal_id} already exists in {tenant}")
            tx.execute(
                "INSERT INTO terminals (tenant, id, secret, enabled, label, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (tenant, terminal_id, self._at_rest(secret, tenant, terminal_id), int(enabled),
                 label, self.clock()),
            )  # fmt: skip
        return bytes(secret)

    def _at_rest(self, secret, tenant, terminal_id) -> bytes:
        if self.box is None:
            return bytes(secret)
        return self.box.seal(bytes(secret), tenant, terminal_id)

    # ---------------------------------------------------------------- admin tokens

    def issue_admin_token(self, tenant) -> str:
        """A new HTTP administration token for ``tenant`` alone; only its digest is kept, so
        it is shown once."""
        token = "dkt_" + secrets.token_urlsafe(32)
        with self.db.transaction() as tx:
            self._need_tenant(tx, tenant)
            tx.execute(
                "INSERT INTO admin_tokens (digest, tenant, created) VALUES (?, ?, ?)",
                (_digest(token), tenant, self.clock()),
            )
        return token

    def revoke_admin_tokens(self, tenant) -> int:
        with self.db.transaction() as tx:
            self._need_tenant(tx, tenant)
            return tx.execute("DELETE FROM admin_tokens WHERE tenant = ?", (tenant,))

    def admin_token_tenant(self, token: str) -> str | None:
        """The tenant an administration token is for, or None if it is nobody's."""
        with self.db.reader() as tx:
            row = tx.one("SELECT tenant FROM admin_tokens WHERE digest = ?", (_digest(token),))
        return None if row is None else row[0]

    def admin_tokens_exist(self) -> bool:
        with self.db.reader() as tx:
            return tx.one("SELECT 1 FROM admin_tokens LIMIT 1") is not None

    def set_terminal_enabled(self, tenant, terminal_id, enabled):
        with self.db.transaction() as tx:
            if not tx.execute(
                "UPDATE terminals SET enabled = ? WHERE tenant = ? AND id = ?",
                (int(enabled), tenant, terminal_id),
            ):
                raise RegistryError(f"no terminal {terminal_id} in {tenant}")

    def terminals(self, tenant):
        return list(self.iter_terminals(tenant))

    def iter_terminals(self, tenant, page=LIST_PAGE):
        """The tenant's terminals by ID, read a page at a time."""
        for r in self._keyset(
            "SELECT id, enabled, label, last_kind, last_seen, last_state FROM terminals "
            "WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?",
            (tenant,),
            page,
        ):
            state = json.loads(r[5]) if r[5] else {}
            yield {
                "id": r[0],
                "enabled": bool(r[1]),
                "label": r[2],
                "last_kind": r[3],
                "last_seen": r[4],
                "unsent": state.get("journal", {}).get("unsent") if state else None,
            }

    def add_employee(self, tenant, code, name, cards=(), fingers=(), lines=(), lang=""):
        """Register an employee; a code already used in the tenant is refused (LNK-01)."""
        self.add_employees(
            tenant,
            [
                {
                    "code": code,
                    "name": name,
                    "cards": list(cards),
                    "fingers": list(fingers),
                    "lines": list(lines),
                    "lang": lang,
                }
            ],
        )

    def add_employees(self, tenant, employees: Iterable[dict], where=None):
        """Register several employees in one transaction: all of them or, on any error, none.
        ``where`` names each one in errors (e.g. CSV line numbers)."""
        items = list(employees)
        labels = where or ["employee %d" % (i + 1) for i in range(len(items))]
        seen_codes: dict[str, str] = {}
        seen_creds: dict[tuple, str] = {}
        checked = []
        for item, label in zip(items, labels, strict=False):
            e = _check_employee(item, label)
            if e["code"] in seen_codes:
                raise RegistryError(
                    "{}: employee code {} is already used by {} (LNK-01: codes are unique)".format(
                        label, e["code"], seen_codes[e["code"]]
                    )
                )
            seen_codes[e["code"]] = label
            for key in e["creds"]:
                if key in seen_creds:
                    raise RegistryError(
                        f"{label}: {_cred_text(key)} is already given to {seen_creds[key]}"
                    )
                seen_creds[key] = label
            checked.append((e, label))
        with self.db.transaction() as tx:
            self._need_tenant(tx, tenant)
            for e, label in checked:
                if tx.one(
                    "SELECT 1 FROM employees WHERE tenant = ? AND code = ?", (tenant, e["code"])
                ):
                    raise RegistryError(
                        f"{label}: employee code {e['code']} already exists in {tenant} "
                        "(LNK-01: codes are unique)"
                    )
                for key in e["creds"]:
                    owner = tx.one(
                        "SELECT employee FROM credentials WHERE tenant = ? AND method = ? "
                        "AND credential = ?",
                        (tenant, key[0], key[1]),
                    )
                    if owner:
                        raise RegistryError(
                            f"{label}: {_cred_text(key)} already belongs to employee {owner[0]}"
                        )
            version = self._bump(tx, tenant)
            tx.many(
                "INSERT INTO employees (tenant, code, name, lang, lines, version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (tenant, e["code"], e["name"], e["lang"], json.dumps(e["lines"]), version)
                    for e, _ in checked
                ],
            )
            tx.many(
                "INSERT INTO credentials (tenant, method, credential, employee) "
                "VALUES (?, ?, ?, ?)",
                [(tenant, m, c, e["code"]) for e, _ in checked for m, c in e["creds"]],
            )
            tx.many(
                "DELETE FROM deleted_employees WHERE tenant = ? AND code = ?",
                [(tenant, e["code"]) for e, _ in checked],
            )
        return len(checked)

    def assign_card(self, tenant, code, idm: bytes):
        """Give employee ``code`` the FeliCa card ``idm`` (refused if someone else has it)."""
        key = (METHOD_FELICA, _check_idm(idm, "card"))
        with self.db.transaction() as tx:
            if not tx.one("SELECT 1 FROM employees WHERE tenant = ? AND code = ?", (tenant, code)):
                raise RegistryError(f"no employee {code} in {tenant}")
            owner = self._give(tx, tenant, code, key)
            if owner is not None:
                raise RegistryError(f"{_cred_text(key)} already belongs to employee {owner}")

    def remove_employee(self, tenant, code):
        with self.db.transaction() as tx:
            if not tx.one("SELECT 1 FROM employees WHERE tenant = ? AND code = ?", (tenant, code)):
                raise RegistryError(f"no employee {code} in {tenant}")
            version = self._bump(tx, tenant)
            tx.execute("DELETE FROM employees WHERE tenant = ? AND code = ?", (tenant, code))
            tx.execute("DELETE FROM credentials WHERE tenant = ? AND employee = ?", (tenant, code))
            tx.execute(
                "INSERT INTO deleted_employees (tenant, code, version) VALUES (?, ?, ?) "
                "ON CONFLICT (tenant, code) DO UPDATE SET version = excluded.version",
                (tenant, code, version),
            )

    def employees(self, tenant):
        return list(self.iter_employees(tenant))

    def iter_employees(self, tenant, page=LIST_PAGE):
        """The tenant's employees by code, as roster records, read a page at a time: one query
        for all of them passed every code as a parameter (66,000 broke PostgreSQL's 65,535,
        250,000 SQLite's)."""
        after = None
        while True:
            got = self.roster(tenant, 0, after, page)
            yield from got["upsert"]
            if got["next"] is None:
                return
            after = got["next"]

    def add_maintenance(self, start, end, notice="", emergency=False):
        if int(end) <= int(start):
            raise RegistryError("a maintenance window ends after it starts")
        if int(start) < 0 or int(end) > MAX_TIME:
            raise RegistryError("a maintenance window lies within 1970-2106 (32-bit seconds)")
        if len(notice) > MAX_TEXT:
            raise RegistryError(
                "a maintenance notice has at most %d characters (this one %d): terminals "
                "refuse a longer one" % (MAX_TEXT, len(notice))
            )
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO maintenance (start_t, end_t, notice, emergency) VALUES (?, ?, ?, ?)",
                (int(start), int(end), notice, int(emergency)),
            )
        self._maint_cache = None

    def start_emergency(self, now, minutes=60, notice="emergency maintenance"):
        self.add_maintenance(now, now + int(minutes) * 60, notice, emergency=True)

    def end_maintenance(self, now):
        """End every window in progress now; returns how many were ended."""
        with self.db.transaction() as tx:
            n = tx.execute(
                "UPDATE maintenance SET end_t = ? WHERE start_t <= ? AND end_t > ?",
                (now, now, now),
            )
        self._maint_cache = None
        return n

    def maintenance_windows(self):
        with self.db.transaction() as tx:
            return tx.rows(
                "SELECT id, start_t, end_t, notice, emergency FROM maintenance ORDER BY start_t"
            )

    def set_config(self, tenant, terminal_id, version, values):
        with self.db.transaction() as tx:
            if not tx.one(
                "SELECT 1 FROM terminals WHERE tenant = ? AND id = ?", (tenant, terminal_id)
            ):
                raise RegistryError(f"no terminal {terminal_id} in {tenant}")
            tx.execute(
                "INSERT INTO configs (tenant, terminal, version, config_values) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (tenant, terminal) DO UPDATE SET "
                "version = excluded.version, config_values = excluded.config_values",
                (tenant, terminal_id, int(version), json.dumps(values)),
            )

    def queue_command(self, tenant, terminal_id, command: dict) -> str:
        with self.db.transaction() as tx:
            if not tx.one(
                "SELECT 1 FROM terminals WHERE tenant = ? AND id = ?", (tenant, terminal_id)
            ):
                raise RegistryError(f"no terminal {terminal_id} in {tenant}")
            row = tx.one(
                "INSERT INTO commands (tenant, terminal, body) VALUES (?, ?, ?) RETURNING id",
                (tenant, terminal_id, json.dumps(command)),
            )
        assert row is not None
        return "c%d" % row[0]

    def command_log(self, tenant, terminal_id):
        """(number, op, sent, status, detail) of the commands queued for a terminal."""
        return list(self.iter_command_log(tenant, terminal_id))

    def iter_command_log(self, tenant, terminal_id, page=LIST_PAGE):
        for r in self._keyset(
            "SELECT id, body, sent, status, detail FROM commands "
            "WHERE tenant = ? AND terminal = ? AND id > ? ORDER BY id LIMIT ?",
            (tenant, terminal_id),
            page,
            0,
        ):
            yield (r[0], json.loads(r[1])["op"], r[2], r[3], r[4])

    def set_min_offline_fw(self, version):
        if len(version) > 32:
            raise RegistryError("a firmware version has at most 32 characters")
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ('min_offline_fw', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (version,),
            )

    # ---------------------------------------------------------------- punches out

    def held(self, tenant, terminal_id):
        """{seq: code} held for a terminal (tests and the simulator)."""
        with self.db.transaction() as tx:
            return dict(
                tx.rows(
                    "SELECT seq, code FROM punches WHERE tenant = ? AND terminal = ?",
                    (tenant, terminal_id),
                )
            )

    def punch_rows(self, tenant, since=None, until=None):
        """Punches of a tenant with the employee and name they were attributed to when received,
        and the boot anchor, oldest first."""
        with self.db.transaction() as tx:
            return tx.rows(
                "SELECT p.terminal, p.seq, p.synced, p.t, p.tz, p.boot, p.kind, p.method, "
                "p.credential, p.flags, p.code, p.employee, p.employee_name, a.offset_s, "
                "p.received FROM punches p "
                "LEFT JOIN boot_anchors a ON a.tenant = p.tenant AND a.terminal = p.terminal "
                "AND a.boot = p.boot "
                "WHERE p.tenant = ? ORDER BY p.terminal, p.seq",
                (tenant,),
            )

    def flagged(self, tenant):
        """Punches stored with a code other than accepted, and conflicting resends."""
        with self.db.transaction() as tx:
            self._need_tenant(tx, tenant)
            punches = tx.rows(
                "SELECT terminal, seq, code, t, synced, credential, employee, received "
                "FROM punches WHERE tenant = ? AND code <> 0 ORDER BY received, terminal, seq",
                (tenant,),
            )
            conflicts = tx.rows(
                "SELECT terminal, seq, punch, received FROM conflicts WHERE tenant = ? ORDER BY id",
                (tenant,),
            )
        return punches, conflicts

    def counts(self):
        with self.db.transaction() as tx:
            row = tx.one("SELECT COUNT(*) FROM punches")
            conflicts = tx.one("SELECT COUNT(*) FROM conflicts")
        return {
            "punches": int(row[0]) if row else 0,
            "conflicts": int(conflicts[0]) if conflicts else 0,
        }

    def ping(self):
        with self.db.transaction() as tx:
            tx.one("SELECT 1")

    def probe(self, now):
        """A durable write, as a batch makes (health: can this receiver commit? A full disk
        lets every read through and fails every commit)."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ('health_probe', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(int(now)),),
            )

    # ---------------------------------------------------------------- helpers

    def _need_tenant(self, tx, tenant):
        if not tx.one("SELECT 1 FROM tenants WHERE code = ?", (tenant,)):
            raise RegistryError(f"no tenant {tenant}")

    def _bump(self, tx, tenant):
        row = tx.one(
            "UPDATE tenants SET roster_version = roster_version + 1 WHERE code = ? "
            "RETURNING roster_version",
            (tenant,),
        )
        if row is None:
            raise RegistryError(f"no tenant {tenant}")
        return int(row[0])


def _with_high(row) -> tuple:
    """(punch, code, t_high): the server gives t_high; other callers (tests, tools) give
    (punch, code), and the punch's own time counts if it is trusted."""
    if len(row) > 2:
        return tuple(row[:3])
    punch, code = row
    return punch, code, trusted_time(punch, code)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _secret_box(db, key_file):
    """The SecretBox of ``db``'s terminal secrets (sealing them first if they are plaintext and
    a key is available), or None; RegistryError if they are sealed and the key is missing or
    another."""
    from simulator.cloud import sealing

    if key_file is KEY_FILE_DEFAULT:
        key_file = os.environ.get("DAKOKU_SECRET_KEY_FILE") or None
        path = getattr(db, "path", ":memory:")
        if key_file is None and db.engine == "sqlite" and path != ":memory:":
            key_file = path + ".key"
    with db.reader() as tx:
        row = tx.one("SELECT value FROM settings WHERE key = 'secret_seal'")
    sealed = row[0] if row else None
    if key_file is None:
        if sealed:
            raise RegistryError(
                "the terminal secrets in this database are encrypted: give their key file "
                "(--secret-key-file or DAKOKU_SECRET_KEY_FILE)"
            )
        return None
    if os.path.exists(key_file):
        key = sealing.read_key_file(key_file)
    elif sealed:
        raise RegistryError(
            f"the terminal secrets in this database are encrypted, and their key file "
            f"{key_file} does not exist"
        )
    else:
        key = sealing.create_key_file(key_file)
    box = sealing.SecretBox(key)
    if sealed is None:
        with db.scrubbing("terminals"), db.transaction() as tx:
            # The row first: a second receiver sealing at the same time waits here, then finds
            # it and seals nothing twice.
            if tx.execute(
                "INSERT INTO settings (key, value) VALUES ('secret_seal', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (box.fingerprint,),
            ):
                for tenant, terminal_id, secret in tx.rows(
                    "SELECT tenant, id, secret FROM terminals"
                ):
                    tx.execute(
                        "UPDATE terminals SET secret = ? WHERE tenant = ? AND id = ?",
                        (box.seal(bytes(secret), tenant, terminal_id), tenant, terminal_id),
                    )
                sealed = box.fingerprint
            else:
                again = tx.one("SELECT value FROM settings WHERE key = 'secret_seal'")
                sealed = again[0] if again else None
    if sealed != box.fingerprint:
        raise RegistryError(
            f"secret key file {key_file} is not the key the terminal secrets of this database "
            "are encrypted with"
        )
    return box


def _columns(p: Punch) -> tuple:
    return (
        int(p.clock_synced),
        p.time,
        p.utc_offset_min,
        p.boot_id,
        p.kind,
        p.method,
        bytes(p.credential),
        p.flags,
    )


def _punch_obj(p: Punch) -> dict:
    obj: dict[str, Any] = {"seq": p.seq, "k": p.kind, "m": p.method, "cred": p.credential.hex()}
    if p.clock_synced:
        obj["t"] = p.time
        obj["tz"] = p.utc_offset_min
    else:
        obj["up"] = p.time
    obj["boot"] = p.boot_id
    if p.flags:
        obj["f"] = p.flags
    return obj


def _boot_of(state: str) -> Any:
    """The boot ID in a recorded hello or heartbeat, or None."""
    if not state:
        return None
    clock = json.loads(state).get("clock") or {}
    return clock.get("boot")


def _command_number(text: str) -> int:
    if text.startswith("c") and text[1:].isdigit():
        return int(text[1:])
    return -1


def _check_code(code, what):
    if not isinstance(code, str) or not 1 <= len(code) <= CODE_MAX:
        raise RegistryError("%s must be 1-%d characters" % (what, CODE_MAX))
    for ch in code:
        if not (ch.isascii() and (ch.isalnum() or ch in "-_.")):
            raise RegistryError(f"{what} {code!r}: letters, digits, - _ . only")


def _check_idm(value, what) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise RegistryError(f"{what} {value!r} is not hexadecimal") from None
    value = bytes(value)
    if len(value) != 8:
        raise RegistryError(f"{what}: a FeliCa IDm is 8 bytes (16 hex digits)")
    return value


def _cred_text(key):
    method, cred = key
    if method == METHOD_FELICA:
        return "card " + bytes(cred).hex()
    return "finger template %d" % int.from_bytes(bytes(cred), "big")


def _check_employee(item: dict, label: str) -> dict:
    try:
        code = str(item.get("code", "")).strip()
        _check_code(code, "employee code")
        name = str(item.get("name", "")).strip()
        if not 1 <= len(name) <= NAME_MAX:
            raise RegistryError("name must be 1-%d characters" % NAME_MAX)
        lang = str(item.get("lang") or "")
        if lang and lang not in ("ja", "en"):
            raise RegistryError("lang must be ja or en")
        lines = [str(x) for x in item.get("lines") or []]
        if len(lines) > 4 or any(len(x) > 64 for x in lines):
            raise RegistryError("at most 4 display lines of 64 characters")
        creds = []
        if len(item.get("cards") or []) > CARDS_MAX or len(item.get("fingers") or []) > FINGERS_MAX:
            raise RegistryError(
                "at most %d cards and %d finger templates" % (CARDS_MAX, FINGERS_MAX)
            )
        for card in item.get("cards") or []:
            creds.append((METHOD_FELICA, _check_idm(card, "card")))
        for finger in item.get("fingers") or []:
            template = int(finger)
            if not 0 <= template <= 0xFFFF:
                raise RegistryError("finger template ID must be 0..65535")
            creds.append((METHOD_FINGER, finger_bytes(template)))
    except RegistryError as e:
        raise RegistryError(f"{label}: {e}") from None
    except (TypeError, ValueError) as e:
        raise RegistryError(f"{label}: {e}") from None
    return {"code": code, "name": name, "lang": lang, "lines": lines, "creds": creds}
