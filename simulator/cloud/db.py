"""The two database engines of the reference receiver, behind one small connection interface.

``SqliteDb`` (the embedded default) and ``PostgresDb`` (psycopg 3, for several stateless
receivers sharing one database) both offer::

    with db.transaction() as tx:        # BEGIN ... COMMIT, or ROLLBACK on an exception
        tx.execute(sql, args)           # -> rowcount
        tx.rows(sql, args)              # -> list of tuples
        tx.one(sql, args)               # -> a tuple or None
        tx.many(sql, list_of_args)

SQL is written once, with ``?`` placeholders and the syntax both engines share (``INSERT … ON
CONFLICT … DO NOTHING``, ``RETURNING``); the PostgreSQL side turns ``?`` into ``%s``. Column
types differ only where ``SCHEMA`` says ``{blob}`` or ``{serial}``.

Durability: SQLite runs in WAL mode with ``synchronous=FULL``, so a COMMIT has reached the disk
(the WAL is fsynced) before it returns; PostgreSQL commits are durable by default. The store
answers a request only after its transaction committed.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS tenants (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        roster_version BIGINT NOT NULL DEFAULT 0,
        day_start_hour INTEGER NOT NULL DEFAULT 5,
        tz_min INTEGER NOT NULL DEFAULT 540,
        created BIGINT NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS terminals (
        tenant TEXT NOT NULL REFERENCES tenants(code),
        id TEXT NOT NULL,
        secret {blob} NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        label TEXT NOT NULL DEFAULT '',
        created BIGINT NOT NULL DEFAULT 0,
        last_kind TEXT NOT NULL DEFAULT '',
        last_state TEXT NOT NULL DEFAULT '',
        last_seen BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant, id))""",
    """CREATE TABLE IF NOT EXISTS employees (
        tenant TEXT NOT NULL REFERENCES tenants(code),
        code TEXT NOT NULL,
        name TEXT NOT NULL,
        lang TEXT NOT NULL DEFAULT '',
        lines TEXT NOT NULL DEFAULT '[]',
        version BIGINT NOT NULL,
        PRIMARY KEY (tenant, code))""",
    """CREATE TABLE IF NOT EXISTS credentials (
        tenant TEXT NOT NULL,
        method INTEGER NOT NULL,
        credential {blob} NOT NULL,
        employee TEXT NOT NULL,
        PRIMARY KEY (tenant, method, credential))""",
    "CREATE INDEX IF NOT EXISTS credentials_by_employee ON credentials (tenant, employee)",
    """CREATE TABLE IF NOT EXISTS deleted_employees (
        tenant TEXT NOT NULL,
        code TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (tenant, code))""",
    """CREATE TABLE IF NOT EXISTS punches (
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        seq BIGINT NOT NULL,
        synced INTEGER NOT NULL,
        t BIGINT NOT NULL,
        tz INTEGER NOT NULL,
        boot INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        method INTEGER NOT NULL,
        credential {blob} NOT NULL,
        flags INTEGER NOT NULL,
        code INTEGER NOT NULL,
        employee TEXT,
        received BIGINT NOT NULL,
        employee_name TEXT,
        t_high BIGINT,
        PRIMARY KEY (tenant, terminal, seq))""",
    # No index on (tenant, employee, t): it tripled the cost of an insert on SQLite (42,500 vs
    # 124,000 rows/s in 100-row durable transactions); the export reads in key order instead.
    """CREATE TABLE IF NOT EXISTS conflicts (
        id {serial},
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        seq BIGINT NOT NULL,
        punch TEXT NOT NULL,
        received BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS nonces (
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        nonce TEXT NOT NULL,
        used BIGINT NOT NULL,
        PRIMARY KEY (tenant, terminal, nonce))""",
    """CREATE TABLE IF NOT EXISTS boot_anchors (
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        boot INTEGER NOT NULL,
        offset_s BIGINT NOT NULL,
        PRIMARY KEY (tenant, terminal, boot))""",
    """CREATE TABLE IF NOT EXISTS maintenance (
        id {serial},
        start_t BIGINT NOT NULL,
        end_t BIGINT NOT NULL,
        notice TEXT NOT NULL DEFAULT '',
        emergency INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS configs (
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        version BIGINT NOT NULL,
        config_values TEXT NOT NULL,
        PRIMARY KEY (tenant, terminal))""",
    """CREATE TABLE IF NOT EXISTS commands (
        id {serial},
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        body TEXT NOT NULL,
        sent BIGINT,
        status TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS events (
        tenant TEXT NOT NULL,
        terminal TEXT NOT NULL,
        n BIGINT NOT NULL,
        code INTEGER NOT NULL,
        t BIGINT,
        up BIGINT NOT NULL,
        boot INTEGER NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (tenant, terminal, n))""",
    """CREATE TABLE IF NOT EXISTS settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    # HTTP administration tokens of one tenant each: only their SHA-256 is kept.
    """CREATE TABLE IF NOT EXISTS admin_tokens (
        digest TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        created BIGINT NOT NULL)""",
]

# Columns added after the first release: a database made before gets them when it is opened
# (ALTER TABLE … ADD COLUMN, then the statement that fills them for the rows already held).
ADDED_COLUMNS = [
    # The employee's name when the punch was received (an export shows the punch as it was
    # attributed then); older rows take the name of the employee the punch names, if any.
    (
        "punches",
        "employee_name",
        "TEXT",
        "UPDATE punches SET employee_name = (SELECT e.name FROM employees e "
        "WHERE e.tenant = punches.tenant AND e.code = punches.employee) "
        "WHERE employee IS NOT NULL",
    ),
    # The latest trusted clock time of the terminal up to this punch (protocol.server
    # SUSPECT_*): older rows leave it empty and count with their own time.
    ("punches", "t_high", "BIGINT", None),
]

# The userinfo password runs to the last "@" of the authority (an unencoded "@" in it too).
_PASSWORD_IN_URL = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^\s/?#]*@", re.I)
_PASSWORD_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.I)


def redact(text: str, url: str = "") -> str:
    """``text`` with the password of every connection URL (``postgresql://user:PASSWORD@…``)
    and keyword string (``password=…``) in it masked, and ``url``'s own password wherever it
    appears: for every message and log line that may name a database."""
    if url:
        password = _url_password(url)
        if password:
            text = text.replace(password, "***")
    text = _PASSWORD_IN_URL.sub(r"\1***@", text)
    return _PASSWORD_KEYWORD.sub(r"\1***", text)


def _url_password(url: str) -> str:
    if "://" in url:
        from urllib.parse import unquote, urlsplit

        try:
            raw = urlsplit(url).password
        except ValueError:
            return ""
        return unquote(raw) if raw else ""
    found = _PASSWORD_KEYWORD.search(url)
    return found.group(2).strip("'") if found else ""


def _private(path: str) -> None:
    """Make ``path`` (the database) private before SQLite opens it: created 0600 if it is new
    (SQLite gives its ``-wal`` and ``-shm`` the database file's mode), and an existing database,
    ``-wal`` or ``-shm`` readable by others is narrowed to 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    for name in (path, path + "-wal", path + "-shm"):
        try:
            mode = os.stat(name).st_mode
            if mode & 0o077:
                os.chmod(name, stat.S_IMODE(mode) & 0o600)
        except FileNotFoundError:
            pass


def _add_columns(tx: Tx, columns_of: Any) -> None:
    """Migrate a database made before ``ADDED_COLUMNS`` (inside the schema transaction)."""
    for table, column, kind, fill in ADDED_COLUMNS:
        if column not in columns_of(table):
            tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            if fill:
                tx.execute(fill)


class Tx:
    """One transaction's cursor, with the placeholder style of its engine."""

    def __init__(self, cursor: Any, pyformat: bool) -> None:
        self._cursor = cursor
        self._pyformat = pyformat

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pyformat else sql

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        self._cursor.execute(self._sql(sql), tuple(args))
        return self._cursor.rowcount

    def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        if seq:
            self._cursor.executemany(self._sql(sql), [tuple(a) for a in seq])

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        self._cursor.execute(self._sql(sql), tuple(args))
        return [tuple(r) for r in self._cursor.fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        self._cursor.execute(self._sql(sql), tuple(args))
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)


class StorageLost(Exception):
    """The database file open is no longer the one at its path (replaced, or its ``-wal`` or
    ``-shm`` deleted): commits would go to a file nobody will read again. Nothing more may be
    acknowledged until the receiver is restarted on the file at the path."""


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


class SqliteDb:
    """One SQLite file (or ``:memory:``), WAL, durable commits; safe to share between threads
    (one transaction at a time: SQLite has one writer anyway).

    SQLite goes on writing to a file that was unlinked or renamed away while it is open. So the
    identity (device, inode) of the database, its ``-wal`` and its ``-shm`` is taken at open and
    compared before every transaction and after every commit: a difference raises
    :class:`StorageLost`, and ``lost`` says why from then on."""

    engine = "sqlite"
    SUFFIXES = ("", "-wal", "-shm")

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:" and not path.startswith("file:"):
            _private(path)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._grouped = False  # a group() transaction is open: transactions are savepoints
        self._savepoints = 0
        c = self._conn
        c.execute("PRAGMA busy_timeout=10000")
        if path != ":memory:":
            mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode (journal_mode={mode})")
        c.execute("PRAGMA synchronous=FULL")
        self.lost = ""  # why the files open are no longer those at the path ("": they are)
        self.lost_short = ""  # the same without the path (for /healthz, unauthenticated)
        self._files: list[tuple[str, tuple[int, int] | None]] = []
        with self.transaction() as tx:
            for statement in SCHEMA:
                tx.execute(statement.format(blob="BLOB", serial="INTEGER PRIMARY KEY"))
            _add_columns(tx, lambda table: [r[1] for r in tx.rows(f"PRAGMA table_info({table})")])
        if path != ":memory:" and not path.startswith("file:"):
            self._files = [(path + x, _identity(path + x)) for x in self.SUFFIXES]

    def check(self) -> None:
        """Raise :class:`StorageLost` if the files open are not those at the path any more."""
        if self.lost:
            raise StorageLost(self.lost)
        for i, (name, identity) in enumerate(self._files):
            now = _identity(name)
            if now == identity:
                continue
            what = "deleted" if now is None else "replaced"
            self.lost_short = "the database%s file was %s" % (self.SUFFIXES[i], what)
            self.lost = (
                f"{name} was {what} while the receiver had it open: nothing is acknowledged "
                "any more; restart the receiver on the database at the path"
            )
            if i and _identity(self.path) == self._files[0][1]:
                # Only -wal or -shm: the database file is still ours. Copy what the open
                # (unlinked) WAL holds into it, so that what was acknowledged stays on disk.
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(FULL)")
                    self.lost += " (what was acknowledged is checkpointed into the database)"
                except sqlite3.Error as e:
                    self.lost += f" (checkpoint failed: {e})"
            raise StorageLost(self.lost)

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Tx]:
        """``durable=False``: the commit is not synced on its own (``synchronous=NORMAL``); it
        reaches the disk with the next durable commit or checkpoint. For data whose loss in a
        crash is harmless (the replay cache), so a request costs one sync, not two.

        Inside :meth:`group` a transaction is a savepoint: all or nothing as ever, made durable
        by the group's commit."""
        with self._lock:
            cursor = self._conn.cursor()
            if self._grouped:
                self._savepoints += 1
                name = "t%d" % self._savepoints
                cursor.execute("SAVEPOINT " + name)
                try:
                    yield Tx(cursor, False)
                except BaseException:
                    cursor.execute("ROLLBACK TO " + name)
                    cursor.execute("RELEASE " + name)
                    raise
                cursor.execute("RELEASE " + name)
                return
            self.check()
            if not durable:
                cursor.execute("PRAGMA synchronous=NORMAL")
            try:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(cursor, False)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
                self.check()  # committed to the files at the path, not to unlinked ones
            finally:
                if not durable:
                    cursor.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit: one transaction (one sync) around the transactions of several requests,
        each of which stays all-or-nothing (a savepoint). Answer those requests only after this
        has returned: then they are all on disk. An exception rolls all of them back."""
        with self._lock:
            self.check()
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            self._grouped = True
            try:
                yield
            except BaseException:
                self._grouped = False
                cursor.execute("ROLLBACK")
                raise
            self._grouped = False
            try:
                cursor.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    cursor.execute("ROLLBACK")
                raise
            self.check()

    @contextmanager
    def reader(self) -> Iterator[Tx]:
        """Reads outside an explicit transaction (each statement sees a committed snapshot):
        no BEGIN/COMMIT round for the lookups every request makes."""
        with self._lock:
            yield Tx(self._conn.cursor(), False)

    @contextmanager
    def scrubbing(self, table: str) -> Iterator[None]:
        """Rewrite rows inside this so that their old content is gone from the disk: deleted
        and overwritten bytes are zeroed (``secure_delete``), and the WAL, which may still hold
        old page images, is checkpointed and truncated after."""
        with self._lock:
            self._conn.execute("PRAGMA secure_delete=ON")
            try:
                yield
            finally:
                self._conn.execute("PRAGMA secure_delete=OFF")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._files = []  # the last connection's close removes -wal and -shm itself
            self._conn.close()


class PostgresDb:
    """A PostgreSQL database through psycopg 3: one connection per thread, so several worker
    threads (and several receiver processes) run transactions side by side."""

    engine = "postgres"
    lost = lost_short = ""  # see SqliteDb: a server's files are not ours to watch

    def check(self) -> None:
        pass

    def __init__(self, dsn: str) -> None:
        import psycopg  # optional dependency: only a PostgreSQL deployment needs it

        self._psycopg = psycopg
        self.dsn = dsn
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        with self.transaction() as tx:
            # Several receivers may start at once: serialise the schema creation.
            tx.execute("SELECT pg_advisory_xact_lock(7041977)")
            for statement in SCHEMA:
                tx.execute(
                    statement.format(blob="BYTEA", serial="BIGSERIAL PRIMARY KEY").replace(
                        " INTEGER", " BIGINT"
                    )
                )
            _add_columns(
                tx,
                lambda table: [
                    r[0]
                    for r in tx.rows(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = ?",
                        (table,),
                    )
                ],
            )

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._psycopg.connect(self.dsn, autocommit=True)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Tx]:
        conn = self._conn()
        with conn.transaction():
            with conn.cursor() as cursor:
                if not durable:  # see SqliteDb.transaction
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                yield Tx(cursor, True)

    reader = transaction  # PostgreSQL: a read-only statement costs the same either way

    @contextmanager
    def scrubbing(self, table: str) -> Iterator[None]:
        """See SqliteDb.scrubbing: the old row versions stay in the table's pages until
        ``VACUUM FULL`` rewrites it (a short exclusive lock; for small registry tables)."""
        yield
        self._conn().execute("VACUUM FULL " + table)

    @contextmanager
    def group(self) -> Iterator[None]:
        """No grouping on PostgreSQL: its workers commit side by side."""
        yield

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def open_db(url: str) -> SqliteDb | PostgresDb:
    """``sqlite:PATH`` (or a bare path), or ``postgresql://…`` / ``postgres://…``."""
    if url.startswith(("postgresql://", "postgres://")) or url.startswith("host="):
        return PostgresDb(url)
    if url.startswith("sqlite:"):
        url = url[len("sqlite:") :]
    return SqliteDb(url)
